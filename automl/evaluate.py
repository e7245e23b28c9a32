"""Scoring model families: cross-validation during the search, one test score after it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from automl.datasets import Dataset, DatasetInfo, Split, take
from automl.metrics import Metric, predict_proba, score_all
from automl.models import ModelFamily


def cv_splitter(info: DatasetInfo, folds: int, seed: int):
    """Stratified folds for classification, plain shuffled folds for regression."""
    if info.task_type == "classification":
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def score_estimator(estimator, X: np.ndarray, y: np.ndarray, info: DatasetInfo,
                    metrics: Mapping[str, Metric]) -> dict[str, float]:
    """Every metric of a fitted estimator on (X, y)."""
    return score_predictions(estimator, estimator.predict(X), X, y, info, metrics)


def score_predictions(estimator, y_pred: np.ndarray, X: np.ndarray, y: np.ndarray,
                      info: DatasetInfo, metrics: Mapping[str, Metric]) -> dict[str, float]:
    """Every metric, given the estimator's predictions `y_pred` for X."""
    needs_proba = info.task_type == "classification" and any(
        metric.needs_proba for metric in metrics.values())
    y_proba = predict_proba(estimator, X, info.n_classes) if needs_proba else None
    return score_all(metrics, y, y_pred, y_proba)


def validate(family: ModelFamily, params: Mapping[str, Any], info: DatasetInfo,
             train: Split, metric: Metric, *, folds: int, seed: int, device: str,
             after_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Validation scores of `params` on the training split, by the family's evaluation:
    one per CV fold, or one holdout score for families trained in epochs.

    `after_step(step, score)` is called after each fold (with the running mean) or epoch;
    the search uses it to report to Optuna's pruner, which may stop the trial by raising
    `optuna.TrialPruned`.
    """
    family.check_accepts(info)
    report = after_step or (lambda step, score: None)
    if family.evaluation == "holdout":
        return [_holdout(family, params, info, train, metric, seed, device, report)]
    scores: list[float] = []
    for fold, (fit_rows, score_rows) in enumerate(
            cv_splitter(info, folds, seed).split(train.X, train.y)):
        estimator = family.make_estimator(params, info, seed, device)
        estimator.fit(take(train.X, fit_rows), train.y[fit_rows])
        scores.append(_score(estimator, take(train.X, score_rows), train.y[score_rows],
                             info, metric, f"fold {fold + 1}"))
        report(fold, float(np.mean(scores)))
    return scores


def validate_population(family: ModelFamily, population: Sequence[Mapping[str, Any]],
                        info: DatasetInfo, train: Split, metric: Metric, *, folds: int,
                        seed: int, device: str,
                        start_member: Callable[[int], Callable[[int, float], None]]
                        ) -> list[list[float] | Exception]:
    """`validate` for each parameter set of a population: its scores, or the exception
    that ended it (`optuna.TrialPruned` among them). `start_member(i)` is called as member
    i starts and returns its `after_step`. Members that share every parameter but the
    family's population parameters go to its ``fit_population`` together, if it has one
    and takes them; the others are validated one by one."""
    results: list[list[float] | Exception | None] = [None] * len(population)
    for members in _shared_architecture(family, population):
        if len(members) > 1 and family.fit_population is not None:
            together = _fit_together(family, [population[i] for i in members], info, train,
                                     metric, seed, device, [start_member(i) for i in members])
            if together is not None:
                for index, result in zip(members, together, strict=True):
                    results[index] = result
                continue
        for index in members:
            try:
                results[index] = validate(family, population[index], info, train, metric,
                                          folds=folds, seed=seed, device=device,
                                          after_step=start_member(index))
            except Exception as error:  # a failed trial must not stop the others
                results[index] = error
    return results


def _shared_architecture(family: ModelFamily, population) -> list[list[int]]:
    """Indices of the members, grouped by what they must share to be fitted together."""
    groups: dict[str, list[int]] = {}
    for index, params in enumerate(population):
        shared = sorted(family.shared_params(params).items())
        groups.setdefault(repr(shared), []).append(index)
    return list(groups.values())


def _fit_together(family, population, info, train, metric, seed, device, reports
                  ) -> list[list[float] | Exception] | None:
    """Holdout scores of members fitted by the family's ``fit_population``, or None where
    it declines (the deep families train together on an accelerator only)."""
    family.check_accepts(info)
    X_fit, y_fit, X_val, y_val = _holdout_split(info, train, seed)
    estimators = [family.make_estimator(params, info, seed, device) for params in population]
    callbacks = [_epoch_scorer(report, X_val, y_val, info, metric) for report in reports]
    try:
        errors = family.fit_population(estimators, X_fit, y_fit, (X_val, y_val), callbacks)
    except Exception as error:
        return [error] * len(population)
    if errors is None:
        return None
    results: list[list[float] | Exception] = []
    for estimator, error in zip(estimators, errors, strict=True):
        try:
            if error is not None:
                raise error
            results.append([_score(estimator, X_val, y_val, info, metric,
                                   "the validation split")])
        except Exception as failure:
            results.append(failure)
    return results


HOLDOUT_SHARE = 0.2


def _holdout_split(info: DatasetInfo, train: Split, seed: int):
    """The training split cut into a fitting part and a stratified validation share."""
    stratify = train.y if info.task_type == "classification" else None
    fit_rows, val_rows = train_test_split(np.arange(len(train.y)), test_size=HOLDOUT_SHARE,
                                          random_state=seed, stratify=stratify)
    return (take(train.X, fit_rows), train.y[fit_rows], take(train.X, val_rows),
            train.y[val_rows])


def _epoch_scorer(report, X_val, y_val, info, metric):
    """The epoch callback that scores the estimator on the validation share."""
    def after_epoch(epoch: int, estimator) -> None:
        report(epoch, _score(estimator, X_val, y_val, info, metric, f"epoch {epoch + 1}"))
    return after_epoch


def _holdout(family, params, info, train: Split, metric, seed, device, report) -> float:
    X_fit, y_fit, X_val, y_val = _holdout_split(info, train, seed)
    estimator = family.make_estimator(params, info, seed, device)
    estimator.fit(X_fit, y_fit, validation_data=(X_val, y_val),
                  epoch_callback=_epoch_scorer(report, X_val, y_val, info, metric))
    return _score(estimator, X_val, y_val, info, metric, "the validation split")


def _score(estimator, X, y, info, metric: Metric, where: str) -> float:
    value = score_estimator(estimator, X, y, info, {metric.name: metric})[metric.name]
    if not np.isfinite(value):
        raise ValueError(f"{metric.name} is {value} on {where}")
    return value


@dataclass(frozen=True)
class TestResult:
    """A family's best parameters refitted on the whole training split, scored on test.

    `fit_seconds` excludes compilation, which `compile_seconds` holds (the cost of
    compiling the programs the fit used, for models that compile); `n_params`,
    `samples_per_second` and `device` come from estimators that report them;
    `predictions` are the test split's predicted labels or values.
    """

    scores: dict[str, float]
    fit_seconds: float
    predict_ms_per_1k: float
    compile_seconds: float = math.nan
    n_params: float = math.nan
    samples_per_second: float = math.nan
    device: str = "cpu"
    predictions: np.ndarray | None = None
    estimator: Any = None  # the fitted model, for automl.saved_models


def fit_and_test(family: ModelFamily, params: Mapping[str, Any], dataset: Dataset,
                 metrics: Mapping[str, Metric], seed: int, device: str) -> TestResult:
    family.check_accepts(dataset.info)
    estimator = family.make_estimator(params, dataset.info, seed, device)
    start = time.perf_counter()
    estimator.fit(dataset.train.X, dataset.train.y)
    wall = time.perf_counter() - start
    predictions = estimator.predict(dataset.test.X)
    scores = score_predictions(estimator, predictions, dataset.test.X, dataset.test.y,
                               dataset.info, metrics)
    return TestResult(
        scores, wall - getattr(estimator, "fresh_compile_seconds_", 0.0),
        predict_latency(estimator, dataset.test.X) * 1e6,
        compile_seconds=getattr(estimator, "compile_seconds_", math.nan),
        n_params=getattr(estimator, "n_params_", math.nan),
        samples_per_second=getattr(estimator, "samples_per_second_", math.nan),
        device=getattr(estimator, "device_", "cpu"), predictions=np.asarray(predictions),
        estimator=estimator)


def predict_latency(estimator, X: np.ndarray, repeats: int = 3) -> float:
    """Seconds per row of ``predict`` on X: the best of a few timed calls after a warm-up
    call (as timeit does), since a single call also times thread-pool start-up and
    caches and varied tenfold between identical runs."""
    estimator.predict(X[:10])  # the first rows, of an array or a DataFrame
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.predict(X)
        best = min(best, time.perf_counter() - start)
    return best / len(X)
