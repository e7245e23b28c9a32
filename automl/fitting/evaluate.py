"""Scoring model families: cross-validation during the search, one test score after it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.api.decisions import undecided
from automl.api.metrics import Metric, in_batches, predict_proba, score_all
from automl.api.models import ModelFamily
from automl.api.results import TestResult
from automl.data.datasets import Dataset, DatasetInfo, Split, take
from automl.data.folds import task_folds


def outputs_of(estimator, X, info: DatasetInfo) -> np.ndarray:
    """A fitted model's outputs on X, as out-of-fold predictions and blends keep them:
    class probabilities (one-hot predictions for a classifier without probabilities), or
    predicted values."""
    if info.task_type != "classification":
        return np.asarray(in_batches(estimator.predict, X), dtype=np.float64)
    proba = predict_proba(estimator, X, info.n_classes)
    if proba is None:
        labels = np.asarray(in_batches(estimator.predict, X), dtype=int)
        proba = np.eye(info.n_classes)[labels]
    return proba


@dataclass
class Validated:
    """A configuration's validation: its score on each of the task's folds, and its
    out-of-fold outputs (`outputs_of`), each training row's from the fold that scored it
    (None where a fold's outputs did not come back)."""

    scores: list[float]
    outputs: np.ndarray | None
    fit_seconds: list[float] = field(default_factory=list)
    """Each fold's fit alone, and its scoring alone (`score_seconds`), without sending
    it to a worker (where the folds were fitted one by one): what a refit on more rows
    and its prediction of the test rows are sized from (`automl.fitting.sizing.refit_seconds`)."""
    score_seconds: list[float] = field(default_factory=list)


class OutOfFold:
    """Out-of-fold outputs of a training split, filled in fold by fold; NaN for rows no
    fold scored (the fitting rows of one holdout share)."""

    def __init__(self, n_rows: int):
        self.n_rows, self.outputs, self.complete = n_rows, None, True

    def add(self, rows: np.ndarray, outputs: np.ndarray | None) -> None:
        if outputs is None:
            self.complete = False
            return
        if self.outputs is None:
            self.outputs = np.full((self.n_rows, *outputs.shape[1:]), np.nan)
        self.outputs[rows] = outputs

    def result(self, scores: list[float], seconds: list[tuple[float, float]] | None = None
               ) -> Validated:
        """The validation, with each fold's (fit, scoring) `seconds` where timed."""
        fits, scorings = zip(*seconds, strict=True) if seconds else ((), ())
        return Validated(scores, self.outputs if self.complete else None, list(fits),
                         list(scorings))


def score_estimator(estimator, X: np.ndarray, y: np.ndarray, info: DatasetInfo,
                    metrics: Mapping[str, Metric]) -> dict[str, float]:
    """Every metric of a fitted estimator on (X, y)."""
    return score_predictions(estimator, in_batches(estimator.predict, X), X, y, info, metrics)


def score_predictions(estimator, y_pred: np.ndarray, X: np.ndarray, y: np.ndarray,
                      info: DatasetInfo, metrics: Mapping[str, Metric]) -> dict[str, float]:
    """Every metric, given the estimator's predictions `y_pred` for X."""
    needs_proba = info.task_type == "classification" and any(
        metric.needs_proba for metric in metrics.values())
    y_proba = predict_proba(estimator, X, info.n_classes) if needs_proba else None
    return score_all(metrics, y, y_pred, y_proba)


def validate(family: ModelFamily, params: Mapping[str, Any], info: DatasetInfo,
             train: Split, metric: Metric, *, folds: int, seed: int, device: str,
             after_step: Callable[[int, float], None] | None = None,
             fold_worker=None) -> Validated:
    """Validation of `params` on the training split: one score per fold of the task's
    folds (`task_folds`), whatever the family, and the out-of-fold outputs.

    `after_step(step, score)` is called after each fold with the running mean; the search
    uses it to report to Optuna's pruner, which may stop the trial by raising
    `optuna.TrialPruned`. A family trained in epochs checks the trial's time limit after
    every epoch too, through ``after_step.epoch_check`` where it has one (the search's
    `automl.search.loop.TrialSteps`). With a `fold_worker`
    (`automl.fitting.stoppable.FoldWorker`), each fold is fitted in its process, stopped once
    the trial's time is up (``after_step.seconds_left()``).
    """
    family.check_accepts(info)
    report = after_step or (lambda step, score: None)
    epoch_check = getattr(report, "epoch_check", None)
    scores: list[float] = []
    seconds: list[tuple[float, float]] = []
    outputs = OutOfFold(len(train.y))
    for fold, rows in enumerate(task_folds(info, train, folds, seed)):
        if fold_worker is None:
            score, fold_outputs, *timed = score_fold(family, params, info, train, metric,
                                                     rows, seed, device, fold, epoch_check)
        else:
            score, fold_outputs, *timed = fold_worker.score(
                dict(params), fold, report.seconds_left(), report.stop_reason)
        scores.append(score)
        seconds.append(tuple(timed))
        outputs.add(rows[1], fold_outputs)
        report(fold, float(np.mean(scores)))
    return outputs.result(scores, seconds)


def score_fold(family: ModelFamily, params: Mapping[str, Any], info: DatasetInfo,
               train: Split, metric: Metric, rows: tuple[np.ndarray, np.ndarray], seed: int,
               device: str, fold: int,
               epoch_check: Callable[[int, Any], None] | None = None
               ) -> tuple[float, np.ndarray | None, float, float]:
    """One fold: `params` fitted on the fold's fitting rows, scored on its other rows
    (in the search process, or in a `FoldWorker`); the score, the outputs on those
    rows (None where the model cannot give them) and the seconds of the fit and of the
    scoring. A family trained in epochs sets its early-stopping share aside from the
    fitting rows itself (``fit`` without ``validation_data``); `epoch_check(epoch,
    estimator)` is its epoch callback."""
    fit_rows, score_rows = rows
    estimator = family.make_estimator(params, info, seed, device)
    X_fit, y_fit = take(train.X, fit_rows), train.y[fit_rows]
    start = time.perf_counter()
    if family.evaluation == "holdout" and epoch_check is not None:
        estimator.fit(X_fit, y_fit, epoch_callback=epoch_check)
    else:
        estimator.fit(X_fit, y_fit)
    fitted = time.perf_counter()
    score, outputs = _scored(estimator, take(train.X, score_rows), train.y[score_rows], info,
                             metric, f"fold {fold + 1}")
    return score, outputs, fitted - start, time.perf_counter() - fitted


def _scored(estimator, X, y, info, metric: Metric, where: str
            ) -> tuple[float, np.ndarray | None]:
    """The fold's score, and its outputs where the model gives them."""
    score = _score(estimator, X, y, info, metric, where)
    try:
        return score, outputs_of(estimator, X, info)
    except Exception:  # no outputs: the family then has no out-of-fold predictions
        return score, None


def validate_population(family: ModelFamily, population: Sequence[Mapping[str, Any]],
                        info: DatasetInfo, train: Split, metric: Metric, *, folds: int,
                        seed: int, device: str, together: bool,
                        start_member: Callable[[int], Callable[[int, float], None]],
                        fold_worker=None) -> list[Validated | Exception]:
    """`validate` for each parameter set of a population: its scores, or the exception
    that ended it (`optuna.TrialPruned` among them). `start_member(i)` is called as member
    i starts and returns its `after_step`; `fold_worker` is `validate`'s. With
    `together` (decided by `automl.search.populations.trains_together`), the members of
    each of the family's `population_groups` go to its ``fit_population`` at once;
    otherwise, and where it declines, they are validated one by one."""
    results: list[Validated | Exception | None] = [None] * len(population)
    for members in family.population_groups(population):
        if together and len(members) > 1:
            fitted = _fit_together(family, [population[i] for i in members], info, train,
                                   metric, seed, device, [start_member(i) for i in members],
                                   folds)
            if fitted is not None:
                for index, result in zip(members, fitted, strict=True):
                    results[index] = result
                continue
        for index in members:
            try:
                results[index] = validate(family, population[index], info, train, metric,
                                          folds=folds, seed=seed, device=device,
                                          after_step=start_member(index),
                                          fold_worker=fold_worker)
            except Exception as error:  # a failed trial must not stop the others
                results[index] = error
    return results


def _fit_together(family, population, info, train, metric, seed, device, reports, folds
                  ) -> list[Validated | Exception] | None:
    """`validate` of members fitted by the family's ``fit_population`` fold by fold on
    the task's folds (each member setting its stopping share aside from the fold's
    fitting rows), or None where it declines. A member that fails or is pruned leaves the
    population; the others go on to the next fold."""
    family.check_accepts(info)
    scores: list[list[float]] = [[] for _ in population]
    outputs = [OutOfFold(len(train.y)) for _ in population]
    failed: dict[int, Exception] = {}
    for fold, (fit_rows, score_rows) in enumerate(task_folds(info, train, folds, seed)):
        alive = [i for i in range(len(population)) if i not in failed]
        if not alive:
            break
        estimators = {i: family.make_estimator(population[i], info, seed, device)
                      for i in alive}
        try:
            errors = family.fit_population(  # the family's own estimators, undecided
                [undecided(e) for e in estimators.values()], take(train.X, fit_rows),
                train.y[fit_rows], None,
                [getattr(reports[i], "epoch_check", None) for i in alive])
        except Exception as error:
            return [error] * len(population)
        if errors is None:
            return None
        X_score, y_score = take(train.X, score_rows), train.y[score_rows]
        for i, error in zip(alive, errors, strict=True):
            try:
                if error is not None:
                    raise error
                score, fold_outputs = _scored(estimators[i], X_score, y_score, info, metric,
                                              f"fold {fold + 1}")
                scores[i].append(score)
                outputs[i].add(score_rows, fold_outputs)
                reports[i](fold, float(np.mean(scores[i])))
            except Exception as failure:
                failed[i] = failure
    return [failed.get(i) or outputs[i].result(scores[i]) for i in range(len(population))]


def _score(estimator, X, y, info, metric: Metric, where: str) -> float:
    value = score_estimator(estimator, X, y, info, {metric.name: metric})[metric.name]
    if not np.isfinite(value):
        raise ValueError(f"{metric.name} is {value} on {where}")
    return value


def fit_and_test(family: ModelFamily, params: Mapping[str, Any], dataset: Dataset,
                 metrics: Mapping[str, Metric], seed: int, device: str, *,
                 rows: np.ndarray | None = None, encoding: str = "auto",
                 timed: bool = True, stop_after: float | None = None) -> TestResult:
    """Fit `params` on the training split (or its `rows`) and score it once on the test
    split: the one path by which the refit, the repeated seeds, the learning curves and the
    features comparison fit a configuration and score it. `encoding` is the table encoder's
    treatment of categories (see `ModelFamily.make_estimator`); `timed` measures the
    prediction latency (the refit's), which the other analyses do not need; a family
    trained in epochs or rounds ends after the first one past `stop_after` seconds
    (`fit_within`)."""
    family.check_accepts(dataset.info)
    estimator = family.make_estimator(params, dataset.info, seed, device, encoding=encoding)
    X, y = dataset.train.X, dataset.train.y
    if rows is not None:
        X, y = take(X, rows), y[rows]
    start = time.perf_counter()
    stopped = fit_within(estimator, X, y, stop_after if family.fit_stops_itself else None)
    wall = time.perf_counter() - start
    predictions = in_batches(estimator.predict, dataset.test.X)
    scores = score_predictions(estimator, predictions, dataset.test.X, dataset.test.y,
                               dataset.info, metrics)
    return TestResult(
        scores, wall - getattr(estimator, "fresh_compile_seconds_", 0.0),
        predict_latency(estimator, dataset.test.X) * 1e6 if timed else math.nan,
        compile_seconds=getattr(estimator, "compile_seconds_", math.nan),
        n_params=getattr(estimator, "n_params_", math.nan),
        samples_per_second=getattr(estimator, "samples_per_second_", math.nan),
        device=getattr(estimator, "device_", "cpu"), predictions=np.asarray(predictions),
        estimator=estimator, stopped=stopped,
        texts_truncated=texts_truncated(estimator, dataset.test.X))


def texts_truncated(estimator, X) -> float:
    """How many of X's texts the fitted model cuts to its window: the count its
    ``count_truncated(X)`` gives (a text model's, or a pipeline step's); NaN for models
    without a window."""
    for part in (estimator, getattr(estimator, "model", None),
                 *getattr(estimator, "named_steps", {}).values()):
        count = getattr(part, "count_truncated", None)
        if callable(count):
            return float(count(X))
    return math.nan


def fit_within(estimator, X, y, seconds: float | None) -> str:
    """Fit `estimator`, one trained in epochs or rounds ending after the first that ends
    past `seconds` (its epoch callback returns True), with the best so far: an epoch (a
    boosting round) is the smallest step at which such a fit can stop and keep what it
    learnt. Returns why it ended early, for the leaderboard ("" when it ran to its own
    end)."""
    if seconds is None:
        estimator.fit(X, y)
        return ""
    deadline = time.monotonic() + seconds
    asked: list[int] = []  # the step (from 1) at which the fit was asked to end

    def stop_when_late(step: int, _estimator) -> bool:
        if time.monotonic() < deadline:
            return False
        asked.append(step + 1)
        return True

    estimator.fit(X, y, epoch_callback=stop_when_late)
    epochs = getattr(estimator, "max_epochs", None)
    step, most = ("epoch", epochs) if epochs else ("round", getattr(estimator, "max_rounds", None))
    if not asked or asked[0] == most:  # it was asked at what was its last step anyway
        return ""
    return (f"stopped at its time limit of {seconds:.3g} s after {step} {asked[0]}"
            + (f" of {most}" if most else "") + f"; its best {step} so far is kept")


LATENCY_ROWS = 10_000
"""Rows of the timed predictions: the first of the test split (a larger split would time
the same per-row cost, several times over)."""


LATENCY_REPEATS = 3
LATENCY_SECONDS = 1.0
"""Timed calls stop repeating once they have taken this long: a slow model's one call
already times it well (a pretrained encoder embedding 1,000 texts takes seconds)."""


def rows_predicted_by_refit(n_test: int) -> int:
    """How many rows `fit_and_test` predicts after a timed refit: the test split for the
    labels and again for the probabilities, and the latency's timed calls."""
    return 2 * n_test + LATENCY_REPEATS * min(n_test, LATENCY_ROWS)


def predict_latency(estimator, X: np.ndarray, repeats: int = LATENCY_REPEATS) -> float:
    """Seconds per row of ``predict`` on (the first `LATENCY_ROWS` rows of) X: the best of
    a few timed calls after a warm-up call (as timeit does), since a single call also
    times thread-pool start-up and caches and varied tenfold between identical runs;
    fewer once they have taken `LATENCY_SECONDS`."""
    X = X[:LATENCY_ROWS]  # the first rows, of an array or a DataFrame
    estimator.predict(X[:10])
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.predict(X)
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
        if spent > LATENCY_SECONDS:
            break
    return best / len(X)
