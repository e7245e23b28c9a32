"""Engine overhead per trial: a search of a trivial model (scikit-learn's DummyClassifier,
5-fold CV on digits, no pruner) through the engine's search loop against the raw Optuna
loop a user would write (``study.optimize`` around ``cross_val_score``), with the same
model, folds and storage (an Optuna journal file)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.data import dataset
from benchmarks.table import Row

SECTION = "3. Engine overhead per trial (trivial model)"


def trivial_family():
    from sklearn.dummy import DummyClassifier

    from automl import ModelFamily
    return ModelFamily(
        "dummy", "classical", frozenset({"classification"}), frozenset({"image"}),
        lambda trial, info: {"strategy": trial.suggest_categorical(
            "strategy", ["most_frequent", "prior", "stratified", "uniform"])},
        lambda params, info, seed, device: DummyClassifier(**params, random_state=seed))


def journal(folder: Path, name: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend
    return optuna.storages.JournalStorage(JournalFileBackend(str(folder / name)))


def engine_search(storage, n_trials: int, trial_timeout: float | None = None) -> float:
    import optuna

    from automl.engine.plugins import build_registry
    from automl.search import SearchSettings, search_family
    data = dataset("digits")
    accuracy = build_registry().metrics["accuracy"].item
    settings = SearchSettings("overhead", 0, "tpe", "none", 5, accuracy, "x",
                              trial_timeout=trial_timeout)
    study = optuna.create_study(storage=storage, study_name="engine", direction="maximize")
    start = time.perf_counter()
    search_family(study, trivial_family(), data.info, data.train, settings,
                  n_trials=n_trials, seconds=None)
    return time.perf_counter() - start


def raw_search(storage, n_trials: int) -> float:
    import optuna
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    data = dataset("digits")
    X, y = data.train.X, data.train.y
    folds = StratifiedKFold(5, shuffle=True, random_state=0)

    def objective(trial):
        strategy = trial.suggest_categorical(
            "strategy", ["most_frequent", "prior", "stratified", "uniform"])
        model = DummyClassifier(strategy=strategy, random_state=0)
        return float(np.mean(cross_val_score(model, X, y, cv=folds, scoring="accuracy")))

    study = optuna.create_study(storage=storage, study_name="raw", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return time.perf_counter() - start


def run(settings) -> list[Row]:
    n = settings.overhead_trials
    with tempfile.TemporaryDirectory() as folder:
        engine = engine_search(journal(Path(folder), "engine.journal"), n)
        raw = raw_search(journal(Path(folder), "raw.journal"), n)
        # with a trial_timeout, folds go to a worker process that can be stopped
        stoppable = engine_search(journal(Path(folder), "stoppable.journal"), n, 600.0)
    what = f"{n} trials, 5-fold CV, journal storage"
    return [Row(SECTION, what, "engine", 1000 * engine / n, "ms/trial"),
            Row(SECTION, what, "raw Optuna loop", 1000 * raw / n, "ms/trial"),
            Row(SECTION, what, "engine - raw", 1000 * (engine - raw) / n, "ms/trial",
                "target < 10 ms"),
            Row(SECTION, what, "engine with trial_timeout (folds in a worker process, its "
                "start included)", 1000 * stoppable / n, "ms/trial"),
            Row(SECTION, what, "worker - engine", 1000 * (stoppable - engine) / n,
                "ms/trial")]
