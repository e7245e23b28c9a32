"""Optuna searches on real storages: failures recorded, resumes reproducible, pruning works."""

import contextlib
import subprocess

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier

from automl import ModelFamily
from automl.api.errors import AutomlError
from automl.data.datasets import prepare_dataset
from automl.search import (
    SearchSettings,
    check_sampler_supports,
    finished_trials,
    make_sampler,
    open_study,
    search_family,
)
from automl.search.storage import open_storage, redact


@pytest.fixture(scope="module")
def wine(registry):
    raw = registry.datasets["wine"].item.load({})
    return prepare_dataset(raw, name="wine", task_type=None, test_size=0.25, seed=0)


def settings(registry, sampler="tpe", pruner="median", folds=3, seed=0, population=None,
             device="cpu"):
    return SearchSettings("t", seed, sampler, pruner, folds,
                          registry.metrics["accuracy"].item, "data", device,
                          population=population)


def search(registry, storage, family, dataset, n_trials, **kwargs):
    s = settings(registry, **kwargs)
    study = open_study(storage, s, family.name)
    search_family(study, family, dataset.info, dataset.train, s, n_trials=n_trials,
                  seconds=None)
    return finished_trials(study)


def test_trials_are_scored_by_cv_and_the_budget_is_kept(registry, wine, tmp_path):
    knn = registry.models["knn"].item
    trials = search(registry, open_storage(None, tmp_path), knn, wine, 6)
    assert len(trials) == 6
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete and all(0.5 < t.value <= 1.0 for t in complete)
    assert all(len(t.user_attrs["cv_scores"]) == 3 for t in complete)


def test_a_resumed_search_draws_what_an_uninterrupted_one_draws(registry, wine, tmp_path):
    svm = registry.models["rbf_svm"].item
    whole = search(registry, open_storage(None, tmp_path / "a"), svm, wine, 8,
                   pruner="none")
    storage = open_storage(None, tmp_path / "b")
    search(registry, storage, svm, wine, 3, pruner="none")
    resumed = search(registry, open_storage(None, tmp_path / "b"), svm, wine, 8,
                     pruner="none")
    assert [t.params for t in resumed] == [t.params for t in whole]
    assert [t.value for t in resumed] == [t.value for t in whole]


def test_resuming_a_finished_search_runs_no_new_trial(registry, wine, tmp_path):
    nb = registry.models["naive_bayes"].item
    first = search(registry, open_storage("sqlite:///" + str(tmp_path / "s.db"), tmp_path),
                   nb, wine, 4)
    again = search(registry, open_storage("sqlite:///" + str(tmp_path / "s.db"), tmp_path),
                   nb, wine, 4)
    assert [t.number for t in again] == [t.number for t in first]


def flaky_build(params, info, seed):
    if params["C"] > 1.0:
        raise ValueError("C too large for this test")
    return LogisticRegression(C=params["C"], max_iter=500)


FLAKY = ModelFamily("flaky", "classical", frozenset({"classification"}),
                    frozenset({"tabular"}),
                    search_space=lambda trial, info: {"C": trial.suggest_float("C", 1e-3,
                                                                               1e3, log=True)},
                    build=lambda p, info, seed, device: _flat(flaky_build(p, info, seed)))


def _flat(model):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), model)


def test_a_failing_trial_is_recorded_with_its_error_and_the_search_goes_on(registry, wine,
                                                                           tmp_path):
    trials = search(registry, open_storage(None, tmp_path), FLAKY, wine, 10, pruner="none",
                    sampler="random")
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 10 and failed and complete
    assert all(t.user_attrs["error"] == "ValueError: C too large for this test" for t in failed)
    assert all(t.params["C"] > 1.0 for t in failed)


SOMETIMES_USELESS = ModelFamily(
    "sometimes_useless", "classical", frozenset({"classification"}), frozenset({"tabular"}),
    search_space=lambda trial, info: {"useful": trial.suggest_categorical("useful",
                                                                          [True, False])},
    build=lambda p, info, seed, device: _flat(LogisticRegression(max_iter=500))
    if p["useful"]
    else DummyClassifier(strategy="most_frequent"))


def test_the_pruner_stops_hopeless_trials_after_a_fold(registry, wine, tmp_path):
    trials = search(registry, open_storage(None, tmp_path), SOMETIMES_USELESS, wine, 14,
                    sampler="random")
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and all(t.params["useful"] is False for t in pruned)
    assert all(len(t.intermediate_values) < 3 for t in pruned)


def test_the_grid_sampler_stops_when_the_grid_is_done(registry, wine, tmp_path):
    knn = registry.models["knn"].item
    trials = search(registry, open_storage(None, tmp_path), knn, wine, 50, sampler="grid",
                    pruner="none")
    grid = knn.grid(wine.info)
    assert len(trials) == len(grid["n_neighbors"]) * len(grid["weights"])
    assert {(t.params["n_neighbors"], t.params["weights"]) for t in trials} == {
        (k, w) for k in grid["n_neighbors"] for w in grid["weights"]}


def test_a_grid_point_running_in_another_worker_is_not_run_again(registry, wine, tmp_path):
    knn = registry.models["knn"].item
    s = settings(registry, sampler="grid", pruner="none")
    study = open_study(open_storage(None, tmp_path), s, knn.name)
    study.sampler = make_sampler(s, knn, wine.info, 50, 0)
    elsewhere = study.ask()  # another worker's trial, still running
    search_family(study, knn, wine.info, wine.train, s, n_trials=50, seconds=None)
    points = len(study.sampler._all_grids)
    here = finished_trials(study)
    assert len(here) == points - 1
    assert elsewhere.number not in {t.system_attrs["grid_id"] for t in here}
    assert study.get_trials(states=(TrialState.RUNNING,))[0].number == elsewhere.number


def test_the_grid_sampler_refuses_families_without_a_grid(registry):
    with pytest.raises(AutomlError, match="flaky"):
        check_sampler_supports(settings(registry, sampler="grid"), [FLAKY])


@pytest.mark.parametrize("sampler,pruner", [("random", "successive_halving"),
                                            ("cmaes", "hyperband"), ("tpe", "none")])
def test_every_sampler_and_pruner_runs(registry, wine, tmp_path, sampler, pruner):
    svm = registry.models["rbf_svm"].item
    trials = search(registry, open_storage(None, tmp_path), svm, wine, 5, sampler=sampler,
                    pruner=pruner)
    assert len(trials) == 5
    assert max(t.value for t in trials if t.state == TrialState.COMPLETE) > 0.9


def test_a_bad_storage_url_is_a_clear_error_without_the_password(tmp_path):
    with pytest.raises(AutomlError) as caught:
        open_storage("nosuchdb://user:secret@localhost/x", tmp_path)
    assert "secret" not in str(caught.value) and "user:***@" in str(caught.value)
    assert redact("postgresql://me:pw@host/db") == "postgresql://me:***@host/db"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://me:hunter2@host/db", "postgresql://me:***@host/db"),
    ("postgresql://:hunter2@host/db", "postgresql://:***@host/db"),
    ("postgresql://me@host/db?password=hunter2&sslmode=off",
     "postgresql://me@host/db?password=***&sslmode=off"),
    ("postgresql+psycopg://me:hun@ter2/x@host:5432/db", "postgresql+psycopg://me:***@host:5432/db"),
    ("me:hunter2@host/db", "me:***@host/db"),
    ('storage = "postgresql://me:hunter2@host/db"', 'storage = "postgresql://me:***@host/db"'),
    ("host=h password=hunter2 dbname=x", "host=h password=*** dbname=x"),
])
def test_every_form_of_a_storage_password_is_redacted(url, shown):
    assert redact(url) == shown and "hunter2" not in redact(url)


@pytest.mark.parametrize("url", ["postgresql:/me:hunter2@host/db", "me:hunter2@host/db"])
def test_a_malformed_database_url_is_an_error_not_a_journal_path(url, tmp_path):
    with pytest.raises(AutomlError) as caught:
        open_storage(url, tmp_path)
    message = caught.value.message()
    assert "looks like a database URL but has no '://'" in message
    assert "hunter2" not in message
    assert not list(tmp_path.iterdir())  # no journal file was made


class TooBigForMemory:
    """Stands in for a model whose batch does not fit: fit raises MemoryError, as numpy
    and JAX do when an allocation fails."""

    def __init__(self, batch_size):
        self.batch_size = batch_size

    def get_params(self, deep=True):
        return {"batch_size": self.batch_size}

    def fit(self, X, y):
        if self.batch_size > 512:
            raise MemoryError(f"cannot allocate a batch of {self.batch_size} rows")
        self.majority_ = np.bincount(y).argmax()
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


MEMORY_HUNGRY = ModelFamily(
    "memory_hungry", "classical", frozenset({"classification"}), frozenset({"tabular"}),
    search_space=lambda trial, info: {
        "batch_size": trial.suggest_categorical("batch_size", [64, 4096])},
    build=lambda p, info, seed, device: TooBigForMemory(p["batch_size"]))


def test_running_out_of_memory_fails_the_trial_and_the_search_goes_on(registry, wine,
                                                                      tmp_path):
    storage = open_storage(None, tmp_path)
    s = settings(registry, pruner="none")
    study = open_study(storage, s, MEMORY_HUNGRY.name)
    for batch_size in (4096, 64):
        study.enqueue_trial({"batch_size": batch_size})
    search_family(study, MEMORY_HUNGRY, wine.info, wine.train, s, n_trials=2, seconds=None)
    failed, complete = finished_trials(study)
    assert failed.state == TrialState.FAIL and complete.state == TrialState.COMPLETE
    assert failed.user_attrs["error"].startswith(
        "out of memory (a smaller batch_size or model may fit; other trials go on): "
        "MemoryError: cannot allocate a batch of 4096 rows")


class EpochSGD(ClassifierMixin, BaseEstimator):
    """A linear classifier trained in epochs, as holdout families are."""

    def __init__(self, loss="hinge", alpha=1e-4, epochs=3):
        self.loss, self.alpha, self.epochs = loss, alpha, epochs

    def fit(self, X, y, validation_data=None, epoch_callback=None):
        self.model_ = SGDClassifier(loss=self.loss, alpha=self.alpha, random_state=0)
        for epoch in range(self.epochs):
            self.model_.partial_fit(X / 100, y, classes=np.unique(y))
            if epoch_callback is not None:
                epoch_callback(epoch, self)
        return self

    def predict(self, X):
        return self.model_.predict(X / 100)


def epoch_sgd_family(fit_population):
    return ModelFamily(
        "epoch_sgd", "classical", frozenset({"classification"}), frozenset({"tabular"}),
        lambda trial, info: {"loss": trial.suggest_categorical("loss", ["hinge", "log_loss"]),
                             "alpha": trial.suggest_float("alpha", 1e-5, 1e-1, log=True)},
        lambda params, info, seed, device: EpochSGD(**params), evaluation="holdout",
        population_params=frozenset({"alpha"}), fit_population=fit_population)


@pytest.mark.parametrize("declines", [False, True])
def test_populations_share_all_but_their_parameters_and_fail_alone(registry, wine, tmp_path,
                                                                   declines):
    """On an accelerator, the engine hands each population to the family's fit_population
    on each of the task's folds (or, where it declines, fits the members one by one); a
    member's error fails its trial alone."""
    calls = []

    def fit_population(estimators, X, y, validation_data, epoch_callbacks):
        calls.append(len(estimators))
        if declines:
            return None
        for estimator, callback in zip(estimators, epoch_callbacks, strict=True):
            estimator.fit(X, y, validation_data, callback)
        if len(estimators) < 3:  # a later fold: the failed member has left
            return [None] * len(estimators)
        worst = max(range(len(estimators)), key=lambda i: estimators[i].alpha)
        return [ValueError("boom") if i == worst else None for i in range(len(estimators))]

    family = epoch_sgd_family(fit_population)
    # on an accelerator the engine hands a population over at once (this family ignores
    # the device it is given)
    trials = search(registry, open_storage(None, tmp_path), family, wine, 6, sampler="random",
                    pruner="none", population=3, device="gpu")
    # fold by fold over the task's 3 folds; the member that failed leaves its population
    assert calls == ([3, 3] if declines else [3, 2, 2, 3, 2, 2])
    for population in (trials[:3], trials[3:]):
        assert len({t.params["loss"] for t in population}) == 1
        assert len({t.params["alpha"] for t in population}) == 3
        states = [t.state for t in population]
        if declines:
            assert states == [TrialState.COMPLETE] * 3
        else:
            assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == 2
            failed = next(t for t in population if t.state == TrialState.FAIL)
            assert failed.user_attrs["error"] == "ValueError: boom"
            assert failed.params["alpha"] == max(t.params["alpha"] for t in population)
    assert all(0 < t.value <= 1 for t in trials if t.state == TrialState.COMPLETE)


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_a_population_never_runs_past_the_trial_budget(registry, wine, tmp_path, device):
    calls = []

    def fit_population(estimators, X, y, validation_data, epoch_callbacks):
        calls.append(len(estimators))

    family = epoch_sgd_family(fit_population)
    trials = search(registry, open_storage(None, tmp_path), family, wine, 5, sampler="tpe",
                    pruner="none", population=4, device=device)
    assert len(trials) == 5 and all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.params["loss"] for t in trials[:4]}) == 1
    # on a CPU members are asked one at a time, each after the one before is scored
    assert calls == ([] if device == "cpu" else [4])


def test_fit_population_needs_population_params_and_holdout():
    from dataclasses import replace
    family = epoch_sgd_family(lambda *args: None)
    assert family.problems() == []
    for broken in (replace(family, evaluation="cv"),
                   replace(family, population_params=frozenset())):
        assert broken.problems() == ["fit_population needs population_params and "
                                     "evaluation 'holdout'"]


def cma_study(sampler_class, n_trials=30, seed_trials=()):
    """A study of a 2-D quadratic, a fresh sampler every trial as the engine makes them,
    after `seed_trials` (FrozenTrials added first)."""
    study = optuna.create_study()
    for trial in seed_trials:
        study.add_trial(trial)
    for number in range(n_trials):
        study.sampler = sampler_class(seed=number, warn_independent_sampling=False)
        trial = study.ask()
        x, y = trial.suggest_float("x", -5, 5), trial.suggest_float("y", -5, 5)
        study.tell(trial, (x - 1) ** 2 + (y + 2) ** 2)
    return study


def test_cmaes_replays_its_state_from_the_trials_and_writes_no_pickle():
    """The same parameters as Optuna's CMA-ES sampler (which unpickles its state from the
    storage), up to rounding, with nothing pickled in the storage."""
    from automl.search.samplers import ReplayedCmaEsSampler
    theirs = cma_study(optuna.samplers.CmaEsSampler)
    ours = cma_study(ReplayedCmaEsSampler)
    assert np.allclose([[t.params["x"], t.params["y"]] for t in theirs.trials],
                       [[t.params["x"], t.params["y"]] for t in ours.trials])
    assert any("cma:optimizer:0" in t.system_attrs for t in theirs.trials)
    assert not any(key.startswith("cma:optimizer") for t in ours.trials
                   for key in t.system_attrs)


class Payload:
    """Unpickled, it runs a command: what a hostile writer to a shared storage plants."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


@pytest.mark.parametrize("planted_by", ["database", "journal"])
def test_a_pickle_planted_in_a_shared_storage_is_never_loaded(planted_by, tmp_path):
    """A completed trial whose attributes hold a pickled payload where Optuna's CMA-ES
    keeps its state: the engine's sampler searches on, and the payload never runs (the
    stock sampler, given the same storage, runs it)."""
    import pickle

    from automl.search.samplers import ReplayedCmaEsSampler
    marker = tmp_path / "ran"
    planted = optuna.trial.create_trial(
        params={"x": 0.0, "y": 0.0}, value=5.0,
        distributions={"x": optuna.distributions.FloatDistribution(-5, 5),
                       "y": optuna.distributions.FloatDistribution(-5, 5)},
        system_attrs={"cma:optimizer:0": pickle.dumps(Payload(marker)).hex(),
                      "cma:generation": 3})
    storage = (f"sqlite:///{tmp_path / 'shared.db'}" if planted_by == "database"
               else open_storage(str(tmp_path / "shared.journal"), tmp_path))
    study = optuna.create_study(storage=storage, study_name="shared")
    study.add_trial(planted)
    for number in range(8):
        study.sampler = ReplayedCmaEsSampler(seed=number, warn_independent_sampling=False)
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", -5, 5) ** 2 + trial.suggest_float(
            "y", -5, 5) ** 2)
    assert not marker.exists()
    study.sampler = optuna.samplers.CmaEsSampler(seed=0, warn_independent_sampling=False)
    with contextlib.suppress(Exception):  # it fails once the payload has run
        study.ask().suggest_float("x", -5, 5)
    assert marker.exists()  # the attack is real: the stock sampler ran it


@pytest.mark.parametrize(("process", "heartbeat_age", "gone"), [
    ("mine", 0, False),                # this very process: alive
    ("reused pid", 0, True),           # its pid, another start time: a reused pid
    ("other machine", 0, False),       # same host name elsewhere: by heartbeat, fresh
    ("other machine", 10_000, True),   # ... and stale
])
def test_a_running_trial_is_alive_by_its_process_identity_not_its_host_name(
        process, heartbeat_age, gone):
    """Two containers of one host name, or a dead process whose pid is reused, do not fool
    the check: the identity holds the pid namespace and the process's start time."""
    import time

    from automl.search.studies import fail_interrupted_trials, process_identity
    mine = process_identity()
    space, pid, started = mine.split("|")
    identity = {"mine": mine, "reused pid": f"{space}|{pid}|{int(started) + 1}",
                "other machine": f"another-boot/pid:[1]|{pid}|{started}"}[process]
    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr("worker", "same-hostname:1:abc")
    trial.set_user_attr("process", identity)
    trial.set_user_attr("heartbeat", time.time() - heartbeat_age)
    assert bool(fail_interrupted_trials(study, stale_seconds=600)) == gone
