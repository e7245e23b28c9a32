"""Classical model families from scikit-learn.

Each family is a pipeline: flatten (images and sequences become feature vectors), scale
where the model is sensitive to feature scales (linear models, SVMs, nearest neighbours),
then the model. Search ranges are the ones a practitioner would choose, on log scales for
regularisation strengths, kernel widths, learning rates and counts that span magnitudes.

SVMs get probabilities from Platt scaling through ``CalibratedClassifierCV(...,
ensemble=False)``, scikit-learn's replacement for the deprecated ``SVC(probability=True)``,
so ROC-AUC and log loss exist for every family.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR

from automl import Cost, ModelFamily, hookimpl, qualified_name
from automl.data.input_kinds import INPUT_KINDS


def flatten(X):
    """Samples as flat feature vectors: (n, ...) -> (n, features)."""
    return X.reshape(len(X), -1)


def pipeline(model, *, scale: bool) -> Pipeline:
    steps = [("flatten", FunctionTransformer(flatten))]
    if scale:
        steps.append(("scale", StandardScaler()))
    steps.append(("model", model))
    return Pipeline(steps)


def scaled_target(regressor):
    """Fit on a standardised target, so epsilon-insensitive losses suit any target scale."""
    return TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler())


def platt(classifier):
    return CalibratedClassifierCV(classifier, method="sigmoid", cv=3, ensemble=False)


# -- search spaces ----------------------------------------------------------------------

CLASS_WEIGHTS = [None, "balanced"]


def weighs_classes(info) -> bool:
    """Whether class weighting is searched: for classifiers on uneven classes."""
    return info.task_type == "classification" and info.imbalanced


def with_class_weight(space):
    """`space` plus a searched ``class_weight`` (none, or inversely proportional to class
    frequency) where the classes are uneven."""
    def weighted_space(trial, info):
        params = space(trial, info)
        if weighs_classes(info):
            params["class_weight"] = trial.suggest_categorical("class_weight",
                                                               CLASS_WEIGHTS)
        return params
    weighted_space.__name__ = space.__name__
    return weighted_space



def logistic_space(trial, info):
    return {"C": trial.suggest_float("C", 1e-4, 1e2, log=True)}


def ridge_space(trial, info):
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


def linear_svm_space(trial, info):
    return {"C": trial.suggest_float("C", 1e-4, 1.0, log=True)}


def rbf_svm_space(trial, info):
    return {"C": trial.suggest_float("C", 1e-2, 1e3, log=True),
            "gamma": trial.suggest_float("gamma", 1e-4, 1.0, log=True)}


def knn_space(trial, info):
    most = max(2, min(50, info.n_train // 4))
    return {"n_neighbors": trial.suggest_int("n_neighbors", 1, most, log=True),
            "weights": trial.suggest_categorical("weights", ["uniform", "distance"])}


def forest_space(trial, info):
    return {"n_estimators": trial.suggest_int("n_estimators", 50, 400, log=True),
            "max_features": trial.suggest_float("max_features", 0.05, 1.0, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True)}


def boosting_space(trial, info):
    return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.5, log=True),
            "max_iter": trial.suggest_int("max_iter", 50, 500, log=True),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 128, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 2, 50, log=True),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-8, 10.0,
                                                     log=True)}


CALIBRATIONS = ["none", "sigmoid", "isotonic"]
"""Gaussian naive Bayes multiplies one likelihood per feature as if they were
independent, so its probabilities sit near 0 and 1 (scikit-learn's calibration guide
shows it). The decision for balanced metrics (`automl.api.decisions`) divides them by the
class shares, which is right only for calibrated probabilities: on modeldata's
lending_club (5% bad loans) uncalibrated naive Bayes then calls almost every loan bad
(balanced accuracy 0.50), isotonic-calibrated 0.67. So calibration is searched."""

MIN_CALIBRATED_CLASS = 30
"""Calibration fits on 3 folds of a fit's rows; a rarer class could leave a fold without
it, so below this many training rows of the rarest class it is not offered."""


def calibrates(info) -> bool:
    """Whether naive Bayes may be calibrated: classes with enough rows each."""
    return bool(info.class_counts) and min(info.class_counts) >= MIN_CALIBRATED_CLASS


def naive_bayes_space(trial, info):
    params = {"var_smoothing": trial.suggest_float("var_smoothing", 1e-12, 1.0, log=True)}
    if calibrates(info):
        params["calibration"] = trial.suggest_categorical("calibration", CALIBRATIONS)
    return params


def naive_bayes(params, info, seed):
    """Gaussian naive Bayes, calibrated on 3 folds where ``calibration`` says how."""
    params = dict(params)
    method = params.pop("calibration", "none")
    model = GaussianNB(**params)
    if method != "none":
        model = CalibratedClassifierCV(model, method=method, cv=3, ensemble=False)
    return pipeline(model, scale=False)


def naive_bayes_defaults(info) -> dict:
    """scikit-learn's smoothing; calibrated (isotonic) where the decision divides by the
    class shares, which needs calibrated probabilities (`CALIBRATIONS`)."""
    start = {"var_smoothing": 1e-9}
    if calibrates(info):
        start["calibration"] = "isotonic" if info.balanced_decisions else "none"
    return start


# -- the families -----------------------------------------------------------------------

Maker = Callable[[dict, object, int], object]


def family(name: str, space, *, classifier: Maker | None = None,
           regressor: Maker | None = None, grid: dict | Callable | None = None,
           description: str = "", class_weight: bool = False,
           cost: Cost | None = None, defaults=None) -> ModelFamily:
    """A classical family. With `class_weight`, the classifier takes a ``class_weight``
    parameter, searched (and in the grid) where the classes are uneven; `grid` is the grid
    sampler's values, or ``grid(info)`` gives them; `cost` is how its
    fit and prediction time grow with the rows (default: linear, without caps);
    `defaults(info)` is its first trial: scikit-learn's defaults in the family's space."""
    task_types = {t for t, maker in (("classification", classifier),
                                     ("regression", regressor)) if maker}
    if class_weight:
        space = with_class_weight(space)

    def family_grid(info):
        values = grid(info) if callable(grid) else grid
        if class_weight and weighs_classes(info):
            return {**values, "class_weight": CLASS_WEIGHTS}
        return values

    def build(params, info, seed, device):  # scikit-learn runs on the CPU, whatever device
        maker = classifier if info.task_type == "classification" else regressor
        return maker(dict(params), info, seed)

    def starting_points(info):
        start = dict(defaults(info))
        if class_weight and weighs_classes(info):
            start["class_weight"] = None  # the library's default; see automl.api.decisions
        return [start]

    return ModelFamily(name=name, kind="classical", task_types=frozenset(task_types),
                       input_kinds=frozenset(INPUT_KINDS), search_space=space, build=build,
                       grid=family_grid if grid else None, description=description,
                       cost=cost or Cost(),
                       starting_points=starting_points if defaults else None,
                       saved_types=frozenset({qualified_name(flatten)}))


def rbf_defaults(info) -> dict:
    """C 1 and gamma "scale" (1 / features, on standardised features), within the space."""
    return {"C": 1.0, "gamma": min(1.0, max(1e-4, 1 / max(1, info.n_features)))}


def forest_defaults(info) -> dict:
    """100 trees, leaves of one row; the square root of the features at each split for
    classification, all of them for regression."""
    share = (1 / math.sqrt(max(1, info.n_features))
             if info.task_type == "classification" else 1.0)
    return {"n_estimators": 100, "max_features": min(1.0, max(0.05, share)),
            "min_samples_leaf": 1}


FOREST_GRID = {"n_estimators": [100, 300], "max_features": [0.1, 0.3, 1.0],
               "min_samples_leaf": [1, 4]}

FOREST_COST = Cost(fit_rows=1.1)
"""Each split sorts (or scans) its node's rows and fully grown trees are about log n deep:
n log n, which from thousands to millions of rows grows as about n^1.1. A forest's size
grows with the rows too (a leaf per row or few), so at scale its refit is sized after
those of the learners that grow linearly (`automl.fitting.sizing.scales_linearly`)."""

FAMILIES = [
    family("logistic_regression", logistic_space,
           classifier=lambda p, info, seed: pipeline(
               LogisticRegression(**p, max_iter=2000, random_state=seed), scale=True),
           grid={"C": [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]}, class_weight=True,
           defaults=lambda info: {"C": 1.0},
           description="L2-regularised logistic regression on standardised features"),
    family("ridge", ridge_space,
           regressor=lambda p, info, seed: pipeline(Ridge(alpha=p["alpha"]), scale=True),
           grid={"alpha": [1e-2, 1e-1, 1.0, 10.0, 100.0]},
           defaults=lambda info: {"alpha": 1.0},
           description="ridge regression on standardised features"),
    family("linear_svm", linear_svm_space,
           classifier=lambda p, info, seed: pipeline(
               platt(LinearSVC(**p, max_iter=5000, random_state=seed)), scale=True),
           regressor=lambda p, info, seed: pipeline(scaled_target(
               LinearSVR(C=p["C"], max_iter=5000, random_state=seed)), scale=True),
           grid={"C": [1e-3, 1e-2, 1e-1, 1.0]}, class_weight=True,
           defaults=lambda info: {"C": 1.0},
           description="linear support vector machine"),
    family("rbf_svm", rbf_svm_space,
           classifier=lambda p, info, seed: pipeline(
               platt(SVC(**p, random_state=seed)), scale=True),
           regressor=lambda p, info, seed: pipeline(
               scaled_target(SVR(C=p["C"], gamma=p["gamma"])), scale=True),
           grid={"C": [0.1, 1.0, 10.0, 100.0], "gamma": [1e-3, 1e-2, 1e-1]},
           class_weight=True, description="support vector machine with an RBF kernel",
           defaults=rbf_defaults,
           # libsvm's fit is quadratic to cubic in the rows; support vectors, and so each
           # prediction, grow with them. 10,000 rows keep a 5-fold trial near a minute.
           cost=Cost(fit_rows=2.0, predict_rows=1.0, max_search_rows=10_000,
                     max_fit_rows=20_000)),
    family("knn", knn_space,
           classifier=lambda p, info, seed: pipeline(KNeighborsClassifier(**p), scale=True),
           regressor=lambda p, info, seed: pipeline(KNeighborsRegressor(**p), scale=True),
           grid={"n_neighbors": [1, 3, 5, 10, 20], "weights": ["uniform", "distance"]},
           defaults=lambda info: {"n_neighbors": min(5, max(2, info.n_train // 4)),
                                  "weights": "uniform"},
           description="k-nearest neighbours on standardised features",
           # each prediction compares a row with every training row
           cost=Cost(fit_rows=1.0, predict_rows=1.0, max_search_rows=100_000,
                     max_fit_rows=200_000)),
    family("random_forest", forest_space,
           classifier=lambda p, info, seed: pipeline(
               RandomForestClassifier(**p, random_state=seed), scale=False),
           regressor=lambda p, info, seed: pipeline(
               RandomForestRegressor(**p, random_state=seed), scale=False),
           grid=FOREST_GRID, class_weight=True, description="random forest",
           defaults=forest_defaults, cost=FOREST_COST),
    family("extra_trees", forest_space,
           classifier=lambda p, info, seed: pipeline(
               ExtraTreesClassifier(**p, random_state=seed), scale=False),
           regressor=lambda p, info, seed: pipeline(
               ExtraTreesRegressor(**p, random_state=seed), scale=False),
           grid=FOREST_GRID, class_weight=True, description="extremely randomised trees",
           defaults=forest_defaults, cost=FOREST_COST),
    family("hist_gradient_boosting", boosting_space,
           classifier=lambda p, info, seed: pipeline(HistGradientBoostingClassifier(
               **p, early_stopping=True, random_state=seed), scale=False),
           regressor=lambda p, info, seed: pipeline(HistGradientBoostingRegressor(
               **p, early_stopping=True, random_state=seed), scale=False),
           grid={"learning_rate": [0.05, 0.1, 0.2], "max_iter": [100, 300],
                 "max_leaf_nodes": [15, 31], "min_samples_leaf": [20],
                 "l2_regularization": [1e-8]}, class_weight=True,
           description="histogram-based gradient boosting with early stopping",
           defaults=lambda info: {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31,
                                  "min_samples_leaf": 20, "l2_regularization": 1e-8}),
    family("naive_bayes", naive_bayes_space, classifier=naive_bayes,
           grid=lambda info: {"var_smoothing": [1e-9, 1e-6, 1e-3, 1e-1],
                              **({"calibration": CALIBRATIONS} if calibrates(info) else {})},
           description="Gaussian naive Bayes, calibrated where that is searched",
           defaults=naive_bayes_defaults),
]


@hookimpl
def automl_register_models(register):
    for model_family in FAMILIES:
        register(model_family)
