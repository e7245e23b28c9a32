"""LightGBM, XGBoost and CatBoost as scikit-learn estimators that take tables as they come.

`BoostedTreesClassifier` and `BoostedTreesRegressor` fit the engine's `TableEncoder` in
its native mode on their training rows: categories become integer codes that the library
splits on as categories (unseen and missing values as missing), numbers keep their
blanks (each library learns where missing values go), dates become parts, text becomes
TF-IDF + SVD components. A stratified share of the training rows is set aside to stop
boosting when the validation loss has not improved for `early_stopping_rounds` rounds.

The fitted model is kept as the library's own text or bytes (`model_`), never pickled:
skops stores the estimator's plain attributes, and the library's booster is rebuilt
from `model_` on first use after loading.
"""

from __future__ import annotations

import base64
import os
import tempfile
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_sample_weight

from automl.data.tables import TableEncoder

LIBRARIES = ("lightgbm", "xgboost", "catboost")


class BoostedTrees(BaseEstimator):
    """Shared fit and predict; use `BoostedTreesClassifier` or `BoostedTreesRegressor`.

    `params` are the library's own parameter names (``num_leaves`` for LightGBM,
    ``max_depth`` for XGBoost, ``depth`` for CatBoost, ...). `class_weight`
    (``"balanced"`` or None) weighs each training row inversely to its class frequency.
    """

    _regression = False

    def __init__(self, library: str = "lightgbm", params: dict | None = None,
                 max_rounds: int = 2000, early_stopping_rounds: int = 50,
                 validation_fraction: float = 0.1, class_weight: str | None = None,
                 random_state: int = 0, n_jobs: int | None = None):
        self.library = library
        self.params = params
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X, y, epoch_callback=None):
        """Fit on X's rows, stopping on the validation share's loss. `epoch_callback`
        (``f(round, self) -> bool``, the engine's time limit) is called after each
        boosting round; once it returns True the fit ends with the best round so far."""
        if self.library not in LIBRARIES:
            raise ValueError(f"library must be one of {LIBRARIES}, not {self.library!r}")
        y = np.asarray(y)
        if self._regression:
            targets = y.astype(np.float64)
        else:
            self.classes_, targets = np.unique(y, return_inverse=True)
        self.encoder_ = TableEncoder("ordinal", self.random_state)
        features = self.encoder_.fit_transform(X, targets)
        fit_rows, val_rows = self._validation_rows(targets)
        weights = (compute_sample_weight("balanced", targets)
                   if self.class_weight == "balanced" and not self._regression else None)
        train = (features[fit_rows], targets[fit_rows],
                 None if weights is None else weights[fit_rows])
        valid = (features[val_rows], targets[val_rows],
                 None if weights is None else weights[val_rows])
        fit = {"lightgbm": self._fit_lightgbm, "xgboost": self._fit_xgboost,
               "catboost": self._fit_catboost}[self.library]
        asked = (lambda step: bool(epoch_callback(step, self))) if epoch_callback else None
        self.model_, self.n_rounds_ = fit(train, valid, asked)
        self._booster = None
        return self

    def _validation_rows(self, targets: np.ndarray):
        rows = np.arange(len(targets))
        n_val = max(1, round(self.validation_fraction * len(rows)))
        stratify = None
        if not self._regression:
            counts = np.bincount(targets)
            if counts.min() >= 2 and n_val >= len(counts):
                stratify = targets
        return train_test_split(rows, test_size=n_val, random_state=self.random_state,
                                stratify=stratify)

    @property
    def _n_classes(self) -> int:
        return 0 if self._regression else len(self.classes_)

    def _categorical(self) -> list[int]:
        return list(range(self.encoder_.n_categorical_))

    def _threads(self) -> int:
        return self.n_jobs or os.cpu_count() or 1

    def _fit_lightgbm(self, train, valid, asked) -> tuple[str, int]:
        import lightgbm
        objective = ("regression" if self._regression else
                     "binary" if self._n_classes == 2 else "multiclass")
        params = {"objective": objective, "verbosity": -1, "seed": self.random_state,
                  "deterministic": True, "force_row_wise": True,
                  "num_threads": self._threads(), **(self.params or {})}
        if objective == "multiclass":
            params["num_class"] = self._n_classes
        categorical = self._categorical()
        data = lightgbm.Dataset(train[0], train[1], weight=train[2],
                                categorical_feature=categorical, free_raw_data=False)
        check = lightgbm.Dataset(valid[0], valid[1], weight=valid[2], reference=data,
                                 categorical_feature=categorical)
        callbacks = [lightgbm.early_stopping(self.early_stopping_rounds, verbose=False)]
        if asked is not None:
            callbacks.append(_lightgbm_stop(asked))
        booster = lightgbm.train(params, data, num_boost_round=self.max_rounds,
                                 valid_sets=[check], callbacks=callbacks)
        rounds = booster.best_iteration or self.max_rounds
        return booster.model_to_string(num_iteration=rounds), rounds

    def _fit_xgboost(self, train, valid, asked) -> tuple[str, int]:
        import xgboost
        n_features = train[0].shape[1]
        types = ["c" if i < self.encoder_.n_categorical_ else "q" for i in range(n_features)]
        objective = ("reg:squarederror" if self._regression else
                     "binary:logistic" if self._n_classes == 2 else "multi:softprob")
        params = {"objective": objective, "tree_method": "hist", "seed": self.random_state,
                  "nthread": self._threads(), "verbosity": 0, **(self.params or {})}
        if objective == "multi:softprob":
            params["num_class"] = self._n_classes

        def matrix(part):
            return xgboost.DMatrix(part[0], part[1], weight=part[2], feature_types=types,
                                   enable_categorical=True)
        booster = xgboost.train(params, matrix(train), num_boost_round=self.max_rounds,
                                evals=[(matrix(valid), "validation")],
                                early_stopping_rounds=self.early_stopping_rounds,
                                verbose_eval=False,
                                callbacks=None if asked is None else [_xgboost_stop(asked)])
        try:
            rounds = booster.best_iteration + 1
        except AttributeError:  # ended by its callback before early stopping kept a best
            rounds = booster.num_boosted_rounds()
        booster = booster[:rounds]
        return bytes(booster.save_raw("json")).decode(), rounds

    def _fit_catboost(self, train, valid, asked) -> tuple[str, int]:
        import catboost
        loss = ("RMSE" if self._regression else
                "Logloss" if self._n_classes == 2 else "MultiClass")
        params = {"loss_function": loss, "iterations": self.max_rounds,
                  "random_seed": self.random_state, "thread_count": self._threads(),
                  "verbose": False, "allow_writing_files": False, **(self.params or {})}
        model = catboost.CatBoost(params)
        model.fit(self._catboost_pool(train[0], train[1], train[2]),
                  eval_set=self._catboost_pool(valid[0], valid[1], valid[2]),
                  early_stopping_rounds=self.early_stopping_rounds, use_best_model=True,
                  callbacks=None if asked is None else [_CatBoostStop(asked)])
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.cbm")
            model.save_model(path)
            with open(path, "rb") as file:
                blob = file.read()
        return base64.b64encode(blob).decode("ascii"), int(model.tree_count_)

    def _catboost_pool(self, features, targets=None, weights=None):
        """CatBoost takes categories as integers or strings, not floats with NaN: codes
        become strings, missing ones "nan" (a category of its own)."""
        import catboost
        import pandas as pd
        frame = pd.DataFrame(features)
        categorical = self._categorical()
        for index in categorical:
            codes = frame[index]
            frame[index] = codes.map(lambda v: "nan" if np.isnan(v) else str(int(v)))
        return catboost.Pool(frame, targets, cat_features=categorical, weight=weights)

    # -- predicting -----------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_booster", None)  # rebuilt from model_: the text is what is stored
        return state

    def _load_booster(self):
        if getattr(self, "_booster", None) is not None:
            return self._booster
        if self.library == "lightgbm":
            import lightgbm
            self._booster = lightgbm.Booster(model_str=self.model_)
        elif self.library == "xgboost":
            import xgboost
            self._booster = xgboost.Booster(params={"nthread": self._threads()})
            self._booster.load_model(bytearray(self.model_.encode()))
        else:
            import catboost
            self._booster = catboost.CatBoost()
            self._booster.load_model(blob=base64.b64decode(self.model_))
        return self._booster

    def _raw_predict(self, X) -> np.ndarray:
        """Predicted values (regression) or class probabilities (classification)."""
        features = self.encoder_.transform(X)
        booster = self._load_booster()
        if self.library == "lightgbm":
            output = booster.predict(features, num_threads=self._threads())
        elif self.library == "xgboost":
            import xgboost
            types = ["c" if i < self.encoder_.n_categorical_ else "q"
                     for i in range(features.shape[1])]
            output = booster.predict(xgboost.DMatrix(features, feature_types=types,
                                                     enable_categorical=True))
        else:
            kind = "RawFormulaVal" if self._regression else "Probability"
            output = booster.predict(self._catboost_pool(features), prediction_type=kind)
        output = np.asarray(output, dtype=np.float64)
        if not self._regression and output.ndim == 1:  # binary: the positive class
            output = np.column_stack([1 - output, output])
        return output

    @property
    def onnx_encoder(self):
        """The table encoder the booster reads through (`automl.analyses.export.encoder_of`)."""
        return self.encoder_

    def to_onnx(self, n_features: int):
        """The booster as an ONNX graph on `automl.analyses.export.ENCODED` rows of `n_features`
        (the encoder's codes and numbers): onnxmltools for LightGBM and XGBoost, CatBoost's
        own export. What a converter refuses (categorical splits, which CatBoost's ONNX
        export and onnxmltools' XGBoost converter do not write) is `NotExportable`."""
        from automl.analyses.export import ENCODED, NotExportable
        booster = self._load_booster()
        try:
            if self.library == "catboost":
                with tempfile.TemporaryDirectory() as folder:
                    path = os.path.join(folder, "model.onnx")
                    booster.save_model(path, format="onnx")
                    import onnx
                    graph = onnx.load(path)
                graph.graph.input[0].name = ENCODED  # its own name for the features
                for node in graph.graph.node:
                    node.input[:] = [ENCODED if name == "features" else name
                                     for name in node.input]
                return graph
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType
            inputs = [(ENCODED, FloatTensorType([None, n_features]))]
            if self.library == "lightgbm":  # its converter writes opsets up to 15
                return onnxmltools.convert_lightgbm(booster, initial_types=inputs,
                                                    target_opset=15, zipmap=False)
            return onnxmltools.convert_xgboost(booster, initial_types=inputs,
                                               target_opset=15)
        except Exception as error:  # the converters raise many types for what they refuse
            raise NotExportable(self.library, f"its converter refused the model "
                                f"({type(error).__name__}: {str(error).splitlines()[0][:160]})"
                                ) from None


def _lightgbm_stop(asked):
    """A LightGBM callback that ends boosting once ``asked(round)`` is True, keeping the
    round that was best on the validation share so far (as its early stopping would)."""
    import lightgbm
    best: dict[str, Any] = {}

    def stop(env) -> None:
        _, _, loss, higher_is_better = env.evaluation_result_list[0][:4]
        if not best or (loss > best["loss"] if higher_is_better else loss < best["loss"]):
            best.update(loss=loss, round=env.iteration, scores=env.evaluation_result_list)
        if asked(env.iteration):
            raise lightgbm.callback.EarlyStopException(best["round"], best["scores"])

    stop.order = 40  # after early stopping's own check (30)
    return stop


def _xgboost_stop(asked):
    """An XGBoost callback that ends boosting once ``asked(round)`` is True (its early
    stopping keeps the best round so far)."""
    import xgboost

    class Stop(xgboost.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            return asked(epoch)

    return Stop()


class _CatBoostStop:
    """A CatBoost callback that ends boosting once ``asked(round)`` is True (its
    ``use_best_model`` keeps the best round so far)."""

    def __init__(self, asked):
        self.asked = asked

    def after_iteration(self, info) -> bool:
        return not self.asked(info.iteration)


class BoostedTreesClassifier(ClassifierMixin, BoostedTrees):
    """Gradient-boosted trees (LightGBM, XGBoost or CatBoost) for classification."""

    def predict_proba(self, X) -> np.ndarray:
        return self._raw_predict(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self._raw_predict(X), axis=1)]


class BoostedTreesRegressor(RegressorMixin, BoostedTrees):
    """Gradient-boosted trees (LightGBM, XGBoost or CatBoost) for regression."""

    _regression = True

    def predict(self, X) -> np.ndarray:
        return self._raw_predict(X)
