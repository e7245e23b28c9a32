"""Metrics: what a metric plugin registers, and how the engine scores a fitted model."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from automl.api.schema import name_problems
from automl.data.datasets import TASK_TYPES

DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Metric:
    """A metric, as registered by a plugin through `automl_register_metrics`.

    Attributes:
        name: unique id, as task files name it in ``[metrics]``.
        direction: ``"maximize"`` or ``"minimize"``; the search, the leaderboard's order
            and the report follow it (a report section reads it with
            ``context.direction(name)``).
        task_types: a ``frozenset`` of ``"classification"`` and/or ``"regression"``.
        score: ``score(y_true, y_pred, y_proba) -> float``: true targets (integer labels
            ``0..n_classes-1`` for classification), predictions, and, when `needs_proba`
            is true, class probabilities of shape ``(n, n_classes)`` in label order. When
            `needs_proba` is false, ``y_proba`` is None. Metrics that need probabilities
            are left empty (NaN) for models that give none.
        needs_proba: whether `score` needs class probabilities.
        description: one line for the docs.
        weighs_classes: whether every class counts alike whatever its size (balanced
            accuracy, macro F1): on uneven classes the classifiers then decide for it
            (`automl.api.decisions`), as a model that predicts the commonest class scores
            poorly.
    """

    name: str
    direction: str
    task_types: frozenset[str]
    score: Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]
    needs_proba: bool = False
    description: str = ""
    weighs_classes: bool = False

    def problems(self) -> list[str]:
        """What is wrong with this registration (empty when it is valid)."""
        found = name_problems(self.name)
        if self.direction not in DIRECTIONS:
            found.append(f"direction {self.direction!r} must be one of {', '.join(DIRECTIONS)}")
        if not self.task_types or not set(self.task_types) <= set(TASK_TYPES):
            found.append(f"task_types must be a non-empty subset of {', '.join(TASK_TYPES)}")
        if not callable(self.score):
            found.append("score must be callable")
        return found


PREDICT_BATCH = 50_000
"""Rows predicted per call: a model's working memory at prediction (kNN's distances, a
network's activations, a kernel matrix) grows with the rows of one call."""


def in_batches(method, X):
    """``method(X)`` (``predict`` or ``predict_proba``), called on `PREDICT_BATCH` rows at
    a time and joined."""
    if len(X) <= PREDICT_BATCH:
        return method(X)
    from automl.data.datasets import take
    return np.concatenate([np.asarray(method(take(X, slice(start, start + PREDICT_BATCH))))
                           for start in range(0, len(X), PREDICT_BATCH)])


def predict_proba(estimator, X: np.ndarray, n_classes: int) -> np.ndarray | None:
    """Class probabilities with one column per class of the task, or None.

    A model fitted on data missing some classes gives fewer columns; they are placed by
    the estimator's ``classes_`` and the missing classes get probability zero. Rows are
    renormalised to sum to one.
    """
    if not hasattr(estimator, "predict_proba"):
        return None
    proba = np.asarray(in_batches(estimator.predict_proba, X), dtype=np.float64)
    if proba.shape[1] != n_classes:
        full = np.zeros((len(proba), n_classes))
        full[:, np.asarray(estimator.classes_, dtype=int)] = proba
        proba = full
    # Models computing in float32 give rows that miss 1 by ~1e-7; metrics expect sums of 1.
    return proba / proba.sum(axis=1, keepdims=True)


def score_all(metrics: Mapping[str, Metric], y_true: np.ndarray, y_pred: np.ndarray,
              y_proba: np.ndarray | None) -> dict[str, float]:
    """Every metric's value; NaN where a metric needs probabilities the model lacks."""
    scores = {}
    for name, metric in metrics.items():
        if metric.needs_proba and y_proba is None:
            scores[name] = math.nan
        else:
            scores[name] = float(metric.score(y_true, y_pred, y_proba))
    return scores
