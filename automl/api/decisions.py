"""Decisions for metrics that count every class alike (balanced accuracy, macro F1).

A model that predicts its most probable class serves accuracy: on a table where one
class has 5% of the rows, a calibrated model rarely finds that class the most probable,
and its balanced accuracy sits near 0.5 whatever it learnt (class weights do not help a
model whose probabilities are calibrated afterwards, as Platt scaling does). Dividing
each class's probability by its share of the training rows before taking the largest is
the decision that maximises balanced accuracy for calibrated probabilities (the
Bayes-optimal rule for equal class costs); it needs no fit of its own, so no rows are
set aside for it and it is the same at every fold, refit and subsample.

The engine turns it on for a task (`automl.data.datasets.DatasetInfo.balanced_decisions`)
where the optimised metric weighs classes alike and the classes are uneven;
`ModelFamily.make_estimator` then wraps every classifier in `PriorCorrected`, and blends
decide the same way (`decide`). Probabilities are left as they are.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from automl.api.metrics import predict_proba
from automl.data.datasets import DatasetInfo


def class_shares(info: DatasetInfo) -> np.ndarray:
    """Each class's share of the training rows (`DatasetInfo.class_counts`)."""
    counts = np.asarray(info.class_counts, dtype=np.float64)
    return np.maximum(counts, 1.0) / max(counts.sum(), 1.0)


def decide(proba: np.ndarray, info: DatasetInfo) -> np.ndarray:
    """The predicted class of each row of class probabilities `proba`: the most probable,
    or with `info.balanced_decisions` the most probable once divided by its share."""
    if info.balanced_decisions:
        proba = proba / class_shares(info)
    return np.asarray(proba).argmax(axis=1)


class PriorCorrected(BaseEstimator):
    """A classifier whose ``predict`` is `decide` on its probabilities (its own
    ``predict`` where it gives none). Everything else, ``predict_proba`` and the model's
    attributes, reads through to `model`; ``fit`` passes its keyword arguments on (an
    epoch callback is called with the model)."""

    def __init__(self, model, info: DatasetInfo):
        self.model = model
        self.info = info

    def fit(self, X, y, **kwargs):
        returned = self.model.fit(X, y, **kwargs)
        return self if returned is self.model else returned

    def predict(self, X):
        proba = predict_proba(self.model, X, self.info.n_classes)
        if proba is None:
            return self.model.predict(X)
        return decide(proba, self.info)

    def __getattr__(self, name: str):
        model = self.__dict__.get("model")
        if model is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(model, name)


def undecided(estimator):
    """The model inside a `PriorCorrected` (what a family's own hooks and the saved
    files know), or `estimator` itself."""
    return estimator.model if isinstance(estimator, PriorCorrected) else estimator


def with_decisions(estimator, info: DatasetInfo):
    """`estimator` wrapped in `PriorCorrected` where `info` asks for balanced decisions
    on a classification task."""
    if info.balanced_decisions and info.task_type == "classification":
        return PriorCorrected(estimator, info)
    return estimator
