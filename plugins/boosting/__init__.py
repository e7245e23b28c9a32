"""Gradient-boosting libraries as model families: LightGBM, XGBoost and CatBoost.

They are what practitioners use on tables and what wins AutoGluon's stacks. Each takes
tables as they come (`takes_tables`): native categories and missing values, see
`automl_plugins.boosting.estimator`. Every fit stops boosting early on a validation share
of its training rows, and the search's pruner stops a trial after any CV fold. The first
trial of each study is the library's defaults, then the sampler explores: learning rate
(log scale), tree size, row and column subsampling, L2 regularisation and, on uneven
classes, class weighting.

A family is registered only when its library imports: LightGBM and XGBoost are
dependencies of automl; CatBoost (about 270 MB installed) is the extra
``pip install "automl[catboost]"``.
"""

from __future__ import annotations

import importlib.util

from automl_plugins.boosting.estimator import BoostedTreesClassifier, BoostedTreesRegressor

from automl import ModelFamily, hookimpl, qualified_name

TASK_TYPES = frozenset({"classification", "regression"})
INPUT_KINDS = frozenset({"tabular"})
"""Tables only: on pixels and time steps they would only repeat the forests and
hist_gradient_boosting, at the cost of the image and sequence tasks' shared time."""


def class_weight_space(trial, info) -> dict:
    if info.task_type == "classification" and info.imbalanced:
        return {"class_weight": trial.suggest_categorical("class_weight",
                                                          [None, "balanced"])}
    return {}


def lightgbm_space(trial, info) -> dict:
    return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 256, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 2, 100, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
            **class_weight_space(trial, info)}


def xgboost_space(trial, info) -> dict:
    return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-8, 10.0, log=True),
            **class_weight_space(trial, info)}


def catboost_space(trial, info) -> dict:
    return {"learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "depth": trial.suggest_int("depth", 3, 8),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 20.0, log=True),
            **class_weight_space(trial, info)}


# The libraries' defaults (and a learning rate that early stopping makes safe): trial 0.
DEFAULTS = {
    "lightgbm": {"learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
                 "feature_fraction": 1.0, "bagging_fraction": 1.0, "lambda_l2": 1e-8},
    "xgboost": {"learning_rate": 0.1, "max_depth": 6, "min_child_weight": 1.0,
                "subsample": 1.0, "colsample_bytree": 1.0, "reg_lambda": 1.0},
    "catboost": {"learning_rate": 0.05, "depth": 6, "l2_leaf_reg": 3.0},
}


def builder(library: str):
    def build(params, info, seed, device):  # CPU libraries, whatever the JAX device
        params = dict(params)
        class_weight = params.pop("class_weight", None)
        if library == "lightgbm" and params.get("bagging_fraction", 1.0) < 1.0:
            params["bagging_freq"] = 1  # LightGBM subsamples rows only with a frequency
        estimator = (BoostedTreesClassifier if info.task_type == "classification"
                     else BoostedTreesRegressor)
        return estimator(library, params, class_weight=class_weight, random_state=seed)
    return build


def starting_points(library: str):
    def start(info) -> list[dict]:
        weights = ({"class_weight": None}
                   if info.task_type == "classification" and info.imbalanced else {})
        return [{**DEFAULTS[library], **weights}]
    return start


def family(library: str, space, description: str) -> ModelFamily:
    return ModelFamily(library, "classical", TASK_TYPES, INPUT_KINDS, space,
                       builder(library), description=description,
                       starting_points=starting_points(library), takes_tables=True,
                       stops_in_rounds=True,
                       saved_types=frozenset({qualified_name(BoostedTreesClassifier),
                                              qualified_name(BoostedTreesRegressor)}))


FAMILIES = {
    "lightgbm": family("lightgbm", lightgbm_space, "LightGBM gradient-boosted trees with "
                       "native categories and early stopping"),
    "xgboost": family("xgboost", xgboost_space, "XGBoost gradient-boosted trees (hist) "
                      "with native categories and early stopping"),
    "catboost": family("catboost", catboost_space, "CatBoost ordered boosting with native "
                       "categories and early stopping (extra: automl[catboost])"),
}


def installed(library: str) -> bool:
    return importlib.util.find_spec(library) is not None


@hookimpl
def automl_register_models(register):
    for library, model_family in FAMILIES.items():
        if installed(library):
            register(model_family)
