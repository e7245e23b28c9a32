"""Built-in metrics, from scikit-learn."""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from automl import Metric, hookimpl

CLASSIFICATION = frozenset({"classification"})
REGRESSION = frozenset({"regression"})


def _roc_auc(y_true, y_pred, y_proba) -> float:
    labels = np.arange(y_proba.shape[1])
    if len(np.unique(y_true)) < 2:
        return math.nan  # undefined on a fold with one class
    if y_proba.shape[1] == 2:
        return skm.roc_auc_score(y_true, y_proba[:, 1])
    present = np.isin(labels, y_true)
    if not present.all():  # ovr AUC needs every class in y_true; score the present ones
        return skm.roc_auc_score(y_true, y_proba[:, present] /
                                 y_proba[:, present].sum(axis=1, keepdims=True),
                                 multi_class="ovr", labels=labels[present])
    return skm.roc_auc_score(y_true, y_proba, multi_class="ovr", labels=labels)


def _accuracy(y_true, y_pred, y_proba) -> float:
    """`accuracy_score` without its input checks (about 2 ms a call, the largest part of
    the engine's cost per trial for fast models): labels here are 1-D arrays already."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


@hookimpl
def automl_register_metrics(register):
    register(Metric("accuracy", "maximize", CLASSIFICATION,
                    _accuracy, description="share of correct predictions"))
    register(Metric("balanced_accuracy", "maximize", CLASSIFICATION,
                    lambda y, pred, proba: skm.balanced_accuracy_score(y, pred),
                    description="mean recall over classes", weighs_classes=True))
    register(Metric("f1_macro", "maximize", CLASSIFICATION,
                    lambda y, pred, proba: skm.f1_score(y, pred, average="macro"),
                    description="F1 averaged over classes", weighs_classes=True))
    register(Metric("roc_auc", "maximize", CLASSIFICATION, _roc_auc, needs_proba=True,
                    description="area under the ROC curve (one-vs-rest for several classes)"))
    register(Metric("log_loss", "minimize", CLASSIFICATION,
                    lambda y, pred, proba: skm.log_loss(y, proba,
                                                        labels=np.arange(proba.shape[1])),
                    needs_proba=True, description="cross-entropy of the predicted probabilities"))
    register(Metric("r2", "maximize", REGRESSION,
                    lambda y, pred, proba: skm.r2_score(y, pred),
                    description="coefficient of determination"))
    register(Metric("rmse", "minimize", REGRESSION,
                    lambda y, pred, proba: skm.root_mean_squared_error(y, pred),
                    description="root mean squared error"))
    register(Metric("mae", "minimize", REGRESSION,
                    lambda y, pred, proba: skm.mean_absolute_error(y, pred),
                    description="mean absolute error"))
