"""Scoring model families: cross-validation during the search, one test score after it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from automl.datasets import Dataset, DatasetInfo, Split
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
    y_pred = estimator.predict(X)
    needs_proba = info.task_type == "classification" and any(
        metric.needs_proba for metric in metrics.values())
    y_proba = predict_proba(estimator, X, info.n_classes) if needs_proba else None
    return score_all(metrics, y, y_pred, y_proba)


def cross_validate(family: ModelFamily, params: Mapping[str, Any], info: DatasetInfo,
                   train: Split, metric: Metric, *, folds: int, seed: int,
                   after_fold: Callable[[int, float], None] | None = None) -> list[float]:
    """Scores of `params` on each fold of the training split.

    `after_fold(fold, running_mean)` is called after each fold; the search uses it to
    report to Optuna's pruner, which may stop the trial by raising `optuna.TrialPruned`.
    """
    scores: list[float] = []
    for fold, (fit_rows, score_rows) in enumerate(
            cv_splitter(info, folds, seed).split(train.X, train.y)):
        estimator = family.build(params, info, seed)
        estimator.fit(train.X[fit_rows], train.y[fit_rows])
        value = score_estimator(estimator, train.X[score_rows], train.y[score_rows], info,
                                {metric.name: metric})[metric.name]
        if not np.isfinite(value):
            raise ValueError(f"{metric.name} is {value} on fold {fold + 1}")
        scores.append(value)
        if after_fold is not None:
            after_fold(fold, float(np.mean(scores)))
    return scores


@dataclass(frozen=True)
class TestResult:
    """A family's best parameters refitted on the whole training split, scored on test."""

    scores: dict[str, float]
    fit_seconds: float
    predict_ms_per_1k: float


def fit_and_test(family: ModelFamily, params: Mapping[str, Any], dataset: Dataset,
                 metrics: Mapping[str, Metric], seed: int) -> TestResult:
    estimator = family.build(params, dataset.info, seed)
    start = time.perf_counter()
    estimator.fit(dataset.train.X, dataset.train.y)
    fit_seconds = time.perf_counter() - start
    scores = score_estimator(estimator, dataset.test.X, dataset.test.y, dataset.info, metrics)
    return TestResult(scores, fit_seconds, predict_latency(estimator, dataset.test.X) * 1e6)


def predict_latency(estimator, X: np.ndarray, repeats: int = 3) -> float:
    """Seconds per row of ``predict`` on X: the best of a few timed calls after a warm-up
    call (as timeit does), since a single call also times thread-pool start-up and
    caches and varied tenfold between identical runs."""
    estimator.predict(X[:10])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.predict(X)
        best = min(best, time.perf_counter() - start)
    return best / len(X)
