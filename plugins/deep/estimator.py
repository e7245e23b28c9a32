"""Flax networks as scikit-learn estimators: `FlaxClassifier` and `FlaxRegressor`.

``fit`` trains with early stopping on a validation set: the one passed as
``validation_data``, else a (stratified) share of X set aside with the estimator's seed.
An ``epoch_callback(epoch, estimator)`` is called after every epoch with the estimator
holding that epoch's parameters; the engine scores it there and reports to Optuna's
pruner. A callback that returns True ends the fit there, as early stopping would (the
best epoch so far is kept): the engine's refit stops so at its time limit.

The validation outputs are computed inside each epoch's compiled program, so predicting on
``validation_data``'s own array (the same object, unmodified) during the callback, or
after fit for the best epoch, reuses them instead of compiling a prediction program. Same
seed, same device: same predictions.

``fit_population`` fits a population, estimators that differ only in `POPULATION_PARAMS`
(learning rate, weight decay, dropout, epochs, patience), as one ``jax.vmap``'d program
on an accelerator; each ends as its own ``fit`` would.

Fitted attributes: ``compile_seconds_`` (compiling the programs this fit used, whether
compiled now or reused from an earlier fit of the same architecture),
``fresh_compile_seconds_`` (the part compiled during this fit), ``train_seconds_`` (the
epochs: training steps and validation outputs, without compiling),
``samples_per_second_``, ``n_params_``, ``n_epochs_``, ``best_epoch_``, ``device_``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jax
import numpy as np
import pandas as pd
from automl_plugins.deep import networks
from automl_plugins.deep.architectures import (
    MLP,
    Architecture,
    InputsSeen,
    Tokens,
    from_description,
)
from automl_plugins.deep.training import (
    PopulationTrainer,
    StepConfig,
    Trainer,
    eval_chunks,
    predict_outputs,
)
from flax import nnx
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from automl.api.models import population_groups
from automl.data.tables import TableEncoder

POPULATION_PARAMS = frozenset({"learning_rate", "weight_decay", "dropout", "max_epochs",
                               "patience"})
"""What members of a population may differ in: arguments of the compiled program, or
bookkeeping on the host. Everything else (the architecture, optimiser, schedule, batch
size, seed) they share."""
MIN_VALIDATION_ROWS = 100
"""Rows set aside for early stopping when no validation data is given, where the data
has five times as many (see `FlaxEstimator._validation_split`)."""


@dataclass(frozen=True)
class _Data:
    """A fit's data: encoded, split and standardised."""

    X: np.ndarray
    targets: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    given_X_val: Any  # validation_data's own array, or None


@dataclass(frozen=True)
class _Plan:
    """How a network trains: its compiled-program config and batches."""

    config: StepConfig
    batch: int
    n_rows: int

    @property
    def steps_per_epoch(self) -> int:
        return self.n_rows // self.batch

    def batches(self, order: np.random.Generator) -> np.ndarray:
        """One epoch's shuffled batches, as a steps x batch matrix of row indices."""
        steps = self.steps_per_epoch
        return order.permutation(self.n_rows)[:steps * self.batch].reshape(
            steps, self.batch).astype(np.int32)

    def place(self, trainer: Trainer, data: _Data):
        """The training data and the validation chunks on the trainer's devices."""
        X, y = trainer.put_data(data.X, data.targets)
        return X, y, trainer.put(eval_chunks(data.X_val, len(self.config.devices)))


@dataclass
class _EarlyStopping:
    """The best epoch so far (lowest validation loss) and whether training should stop."""

    patience: int
    max_epochs: int
    best_loss: float = np.inf
    best_epoch: int = 0
    best_state: Any = None
    best_outputs: np.ndarray | None = None
    stopped: bool = False

    def update(self, epoch: int, val_loss: float, state, outputs: np.ndarray) -> None:
        if self.best_state is None or val_loss < self.best_loss - 1e-6:
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_state, self.best_outputs = state, outputs
        self.stopped = (epoch - self.best_epoch >= self.patience
                        or epoch + 1 >= self.max_epochs)


class FlaxEstimator(BaseEstimator):
    """The shared trainer: ``network`` (an `automl_plugins.deep.architectures`
    architecture: `MLP`, the default, `CNN`, `RNN`, or `Tokens` around one) holds the
    layers' settings, this estimator how they are trained. Use `FlaxClassifier` or
    `FlaxRegressor`."""

    _regression = False

    def __init__(self, network: Architecture | None = None, optimizer: str = "adam",
                 learning_rate: float = 1e-3, weight_decay: float = 0.0,
                 batch_size: int = 128, max_epochs: int = 100, patience: int = 10,
                 schedule: str = "constant", dropout: float = 0.0, augment: bool = False,
                 class_weight: str | dict | None = None, validation_fraction: float = 0.1,
                 random_state: int = 0, device: str = "auto", n_devices: int | None = None):
        self.network = network
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.schedule = schedule
        self.dropout = dropout
        self.augment = augment
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.n_devices = n_devices

    # -- building ------------------------------------------------------------------------

    @property
    def architecture(self) -> Architecture:
        """``network``, or the default `MLP`."""
        return self.network if self.network is not None else MLP()

    @property
    def _tokens(self) -> Tokens | None:
        return self.network if isinstance(self.network, Tokens) else None

    def _devices(self) -> tuple:
        from automl.fitting.devices import resolve_device
        platform = resolve_device(self.device)
        devices = jax.local_devices(backend=platform)
        return tuple(devices[:self.n_devices] if self.n_devices else devices)

    def _build_network(self, input_shape, n_outputs: int, platform: str,
                       init: networks.HostInit | None = None) -> nnx.Module:
        seen = InputsSeen(tuple(getattr(self, "category_counts_", ())),
                          hasattr(self, "table_encoder_"),
                          getattr(self, "text_vocabulary_", 0))
        return self.architecture.build(tuple(input_shape), n_outputs, platform,
                                       init or networks.HostInit(self.random_state), seen)

    # -- fitting -------------------------------------------------------------------------

    def _encode(self, y) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X, y, validation_data=None,
            epoch_callback: Callable[[int, FlaxEstimator], None] | None = None):
        data = self._prepare(X, y, validation_data)
        model, plan = self._plan(data)
        trainer = Trainer(model, plan.config, self._hyper(plan), self.random_state)
        X_device, y_device, X_val_chunks = plan.place(trainer, data)
        order = np.random.default_rng(self.random_state)
        stopping = _EarlyStopping(self.patience, self.max_epochs)
        self.train_seconds_ = 0.0
        for epoch in range(self.max_epochs):
            compiled_before = trainer.fresh_compile_seconds
            start = time.perf_counter()
            train_loss, val_outputs = trainer.run_epoch(
                X_device, y_device, plan.batches(order), epoch, X_val_chunks)
            self.train_seconds_ += (time.perf_counter() - start
                                    - (trainer.fresh_compile_seconds - compiled_before))
            asked_to_stop = self._after_epoch(epoch, train_loss, val_outputs[:len(data.X_val)],
                                              data, (trainer.params, trainer.rest), stopping,
                                              epoch_callback)
            if stopping.stopped or asked_to_stop:
                break
        self._finish(trainer, plan, stopping, data)
        return self

    # -- the parts of fit, shared with fit_population ------------------------------------

    def _prepare(self, X, y, validation_data) -> _Data:
        """Check, encode, split and standardise the data (setting the fitted attributes
        that describe it)."""
        X, y = self._checked(X, y)
        targets = self._encode(y, fitting=True)
        if validation_data is None:  # rows of an array or a table
            X, X_val, targets, y_val = self._validation_split(X, targets)
        else:
            X_val, y_val = validation_data[0], self._encode(np.asarray(validation_data[1]))
        X = self._fit_inputs(X, targets)  # a table's encoder sees the fitting rows only
        X_val = self._inputs(X_val)
        # Standardise inputs: per feature for tables, per channel for images and sequences;
        # category codes stay codes.
        axes = 0 if X.ndim == 2 else tuple(range(X.ndim - 1))
        self.input_mean_ = X.mean(axis=axes)
        self.input_scale_ = np.where(X.std(axis=axes) > 0, X.std(axis=axes), 1.0)
        codes = X.shape[1] if self._tokens else len(getattr(self, "category_counts_", ()))
        self.input_mean_[:codes], self.input_scale_[:codes] = 0.0, 1.0  # codes stay codes
        # the caller's own validation array, whose outputs each epoch computes anyway
        given_X_val = validation_data[0] if validation_data is not None else None
        return _Data(self._standardise(X), targets, self._standardise(X_val), y_val,
                     given_X_val)

    def _checked(self, X, y) -> tuple[Any, np.ndarray]:
        """X and y checked as scikit-learn's estimators check them: finite numbers of one
        shape (any number of axes: images and sequences too), at least two samples, a
        1-D target (numeric for regression, discrete for classification). A table passes
        to its encoder as it is, blanks and all."""
        if isinstance(X, pd.DataFrame):
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
            self.n_features_in_ = X.shape[1]
        else:
            X, y = validate_data(self, X, y, allow_nd=True, ensure_min_samples=2,
                                 dtype=np.float32, y_numeric=self._regression)
        if not self._regression:
            check_classification_targets(y)
        return X, np.asarray(y)

    def _plan(self, data: _Data, devices: tuple | None = None) -> tuple[nnx.Module, _Plan]:
        """The network, and how it trains: devices (default: the estimator's), batch size,
        compiled-program config."""
        devices = devices or self._devices()
        platform = devices[0].platform
        n_outputs = 1 if self._regression else len(self.classes_)
        model = self._build_network(data.X.shape[1:], n_outputs, platform)
        self.n_params_ = networks.count_parameters(model)
        self.input_shape_ = tuple(data.X.shape[1:])
        self.device_ = f"{platform} x{len(devices)}"
        # A batch splits evenly over the devices and never exceeds the data.
        batch = min(self.batch_size, len(data.X)) // len(devices) * len(devices)
        if batch == 0:
            raise ValueError(f"{len(data.X)} training samples cannot be split over "
                             f"{len(devices)} devices")
        config = StepConfig(nnx.split(model, nnx.Param, ...)[0], self.optimizer,
                            self.schedule, self._regression,
                            self.augment and data.X.ndim == 4, self.dropout > 0, devices,
                            fast_compile=self.architecture.fast_compile,
                            class_weights=self._class_weights(data.targets))
        self.graphdef_ = config.graphdef
        return model, _Plan(config, batch, len(data.X))

    def _fit_inputs(self, X, targets: np.ndarray) -> np.ndarray:
        """X as the network's input array; a table (DataFrame) through a `TableEncoder`
        fitted here, on the training rows: category codes first, for the embeddings."""
        for name in ("table_encoder_", "category_counts_", "text_encoder_"):  # earlier fits
            self.__dict__.pop(name, None)
        if self._tokens:  # texts: a tokenizer fitted on these rows only
            from automl_plugins.deep.tokens import TokenIds
            self.text_encoder_ = TokenIds(self._tokens.vocab_size,
                                          self._tokens.max_length).fit(X)
            self.text_vocabulary_ = self.text_encoder_.vocabulary_size_
            return self.text_encoder_.transform(X)
        if not isinstance(X, pd.DataFrame):
            return np.asarray(X, dtype=np.float32)
        if not self.architecture.takes_tables:
            raise ValueError(f"the {self.architecture.name.upper()} takes images or "
                             "sequences, not tables")
        self.table_encoder_ = TableEncoder("embedding", self.random_state,
                                           numeric=self.architecture.numeric_transform)
        encoded = self.table_encoder_.fit_transform(X, targets)
        self.category_counts_ = list(self.table_encoder_.category_counts_)
        return encoded.astype(np.float32)

    def _class_weights(self, targets: np.ndarray) -> tuple[float, ...] | None:
        """Class weights for the loss: balanced (n / (classes x count)), a {class: weight}
        dict (classes it leaves out weigh 1), or None."""
        if self.class_weight is None or self._regression:
            return None
        if isinstance(self.class_weight, dict):
            return tuple(float(self.class_weight.get(c, 1.0)) for c in self.classes_.tolist())
        counts = np.bincount(targets, minlength=len(self.classes_)).astype(np.float64)
        weights = len(targets) / (len(counts) * np.maximum(counts, 1))
        return tuple(round(float(w), 6) for w in weights)

    def _hyper(self, plan: _Plan) -> dict[str, float]:
        """The training hyperparameters that are arguments of the compiled program."""
        total_steps = plan.steps_per_epoch * self.max_epochs
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "dropout": self.dropout, "total_steps": total_steps,
                "warmup_steps": max(1, total_steps // 20)}

    def _after_epoch(self, epoch: int, train_loss: float, val_outputs: np.ndarray,
                     data: _Data, state, stopping: _EarlyStopping, epoch_callback) -> bool:
        """Check the loss, keep the best epoch, and call the epoch callback with this
        estimator holding the epoch's weights (`state`: params and the rest); whether the
        callback asks the fit to end here."""
        self.n_epochs_ = epoch + 1
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"the training loss became {train_loss} at epoch "
                                     f"{epoch + 1} (learning rate {self.learning_rate:g})")
        stopping.update(epoch, self._loss(val_outputs, data.y_val), state, val_outputs)
        self.params_, self.rest_ = state
        if epoch_callback is not None:
            # predicting validation_data now reuses the outputs the epoch computed
            self._known_outputs = (data.given_X_val, val_outputs)
            return bool(epoch_callback(epoch, self))
        return False

    def _finish(self, trainer: Trainer, plan: _Plan, stopping: _EarlyStopping,
                data: _Data) -> None:
        """Keep the best epoch's weights and the fit's costs."""
        # the engine scores the best epoch on validation_data next: no predict program
        self._known_outputs = (data.given_X_val, stopping.best_outputs)
        self.best_epoch_ = stopping.best_epoch
        self.params_, self.rest_ = stopping.best_state
        self.compile_seconds_ = trainer.compile_seconds
        self.fresh_compile_seconds_ = trainer.fresh_compile_seconds
        self.programs_reused_ = trainer.programs_reused
        samples = self.n_epochs_ * plan.steps_per_epoch * plan.batch
        self.samples_per_second_ = samples / max(self.train_seconds_, 1e-9)

    def _validation_split(self, X, targets: np.ndarray):
        """Set `validation_fraction` of the data aside for early stopping (of a table, at
        least `MIN_VALIDATION_ROWS` where that is at most a fifth of the rows: early
        stopping on a few dozen rows stops at noise; on the raw penguins table 27 rows
        kept epoch 0 and the refit scored 0.54 on test, 55 rows kept epoch 24 and it
        scored 0.97), stratified when every class can appear on both sides (tiny data, as
        in learning curves, may not allow it). Images and sequences keep the plain share,
        so that learning-curve subsets of one size bucket share their compiled program."""
        least = (min(MIN_VALIDATION_ROWS, round(0.2 * len(X)))
                 if isinstance(X, pd.DataFrame) else 1)
        n_val = max(1, round(self.validation_fraction * len(X)), least)
        counts = np.bincount(targets) if not self._regression else np.array([])
        stratify = (targets if len(counts) and counts.min() >= 2 and n_val >= len(counts)
                    and len(X) - n_val >= len(counts) else None)
        return train_test_split(X, targets, test_size=n_val, random_state=self.random_state,
                                stratify=stratify)

    def _loss(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        if self._regression:
            return float(np.mean((outputs[:, 0] - targets) ** 2))
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        log_proba = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-log_proba[np.arange(len(targets)), targets].mean())

    # -- saving: msgpack holds numbers, strings and arrays only, so loading runs no code --

    FITTED = ("input_shape_", "input_mean_", "input_scale_", "n_params_", "device_",
              "best_epoch_", "classes_", "target_mean_", "target_scale_", "category_counts_",
              "text_vocabulary_")

    def to_bytes(self) -> bytes:
        """The fitted estimator as msgpack (`flax.serialization`): its parameters, fitted
        attributes and network weights; a table encoder as skops bytes inside it."""
        import skops.io
        from flax import serialization
        fitted = {name: getattr(self, name) for name in self.FITTED if hasattr(self, name)}
        fitted["input_shape_"] = list(self.input_shape_)
        if hasattr(self, "table_encoder_"):
            fitted["table_encoder_"] = skops.io.dumps(self.table_encoder_)
        if hasattr(self, "text_encoder_"):  # the tokenizer as its own JSON
            fitted["text_encoder_"] = self.text_encoder_.to_str()
        weights = {part: jax.tree.map(np.asarray, nnx.to_pure_dict(getattr(self, part)))
                   for part in ("params_", "rest_")}
        init = {**self.get_params(deep=False), "network": self.architecture.describe()}
        return serialization.msgpack_serialize(
            {"init": init, "fitted": fitted, "weights": weights})

    @classmethod
    def from_bytes(cls, data: bytes) -> FlaxEstimator:
        """An estimator saved by `to_bytes`, ready to predict on this machine's devices."""
        from flax import serialization
        saved = serialization.msgpack_restore(data)
        # "auto": predict on whatever this machine has, not the training machine's GPU
        estimator = cls(**{**saved["init"], "device": "auto",
                           "network": from_description(saved["init"]["network"])})
        for name, value in saved["fitted"].items():
            setattr(estimator, name, value)
        estimator.input_shape_ = tuple(estimator.input_shape_)
        if "table_encoder_" in saved["fitted"]:
            from automl.engine.saved_models import load_skops_bytes
            estimator.table_encoder_ = load_skops_bytes(saved["fitted"]["table_encoder_"])
            estimator.category_counts_ = [int(c) for c in estimator.category_counts_]
        if "text_encoder_" in saved["fitted"]:
            from automl_plugins.deep.tokens import TokenIds
            estimator.text_encoder_ = TokenIds.from_str(saved["fitted"]["text_encoder_"],
                                                        estimator.network.max_length)
            estimator.text_vocabulary_ = int(estimator.text_vocabulary_)
        n_outputs = 1 if cls._regression else len(estimator.classes_)
        platform = estimator._devices()[0].platform

        def build() -> nnx.Module:  # zeros, replaced by the saved weights
            return estimator._build_network(estimator.input_shape_, n_outputs, platform,
                                            networks.ShapesOnly(estimator.random_state))

        # the file's settings size the network: its shapes are checked against the saved
        # weights (already read, so bounded by the file) before anything is allocated
        _, expected, _ = nnx.split(nnx.eval_shape(build), nnx.Param, ...)
        if shapes(nnx.to_pure_dict(expected)) != shapes(saved["weights"]["params_"]):
            raise ValueError("the saved network's weights do not have the shapes its "
                             "settings describe")
        estimator.graphdef_, params, rest = nnx.split(build(), nnx.Param, ...)
        nnx.replace_by_pure_dict(params, saved["weights"]["params_"])
        nnx.replace_by_pure_dict(rest, saved["weights"]["rest_"])
        estimator.params_, estimator.rest_ = params, rest
        return estimator

    @property
    def onnx_encoder(self):
        """The table encoder the network reads through, or the tokenizer a text network
        reads through (None for arrays): `automl.analyses.export.encoder_of`."""
        return getattr(self, "table_encoder_", getattr(self, "text_encoder_", None))

    def to_onnx(self, n_features: int):
        """The network as an ONNX graph on the encoded rows, or on a text's token ids
        (`onnx_graph.mlp_graph`)."""
        from automl_plugins.deep.onnx_graph import mlp_graph
        return mlp_graph(self, n_features)

    def count_truncated(self, X) -> float:
        """How many of X's texts are cut to `max_length` tokens (NaN for other inputs,
        which have no window)."""
        encoder = getattr(self, "text_encoder_", None)
        return encoder.count_truncated(X) if encoder is not None else math.nan

    def input_saliency(self, X, y) -> np.ndarray:
        """Gradient x input: per input value (images and sequences), the mean magnitude
        over the rows of X of the gradient of the true class's log-probability (the
        output, for regression) times the standardised input. Tables and texts, whose
        inputs are codes and token ids, have none (ValueError)."""
        from automl_plugins.deep.training import input_gradients
        if hasattr(self, "table_encoder_") or hasattr(self, "text_encoder_"):
            raise ValueError("gradient x input needs numeric inputs, not codes or tokens")
        check_is_fitted(self, "params_")
        inputs = self._standardise(np.asarray(X, dtype=np.float32))
        targets = (np.zeros(len(inputs), np.int32) if self._regression
                   else np.searchsorted(self.classes_, y).astype(np.int32))
        gradients = input_gradients(self.graphdef_, self.params_, self.rest_, inputs,
                                    targets, self._regression)
        return np.abs(gradients * inputs).mean(axis=0)

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.input_mean_) / self.input_scale_).astype(np.float32)

    def _inputs(self, X) -> np.ndarray:
        """X as the network's input array: a table through the encoder fitted on the
        training rows."""
        if hasattr(self, "table_encoder_"):
            return self.table_encoder_.transform(X).astype(np.float32)
        if hasattr(self, "text_encoder_"):
            return self.text_encoder_.transform(X)
        return np.asarray(X, dtype=np.float32)

    def _outputs(self, X) -> np.ndarray:
        known_X, known_outputs = getattr(self, "_known_outputs", (None, None))
        if known_X is not None and known_outputs is not None and X is known_X:
            return known_outputs
        check_is_fitted(self, "params_")
        if not isinstance(X, pd.DataFrame):
            X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        X = self._standardise(self._inputs(X))
        return predict_outputs(self.graphdef_, self.params_, self.rest_, X)


class FlaxClassifier(ClassifierMixin, FlaxEstimator):
    """A Flax network trained with softmax cross-entropy."""

    def _encode(self, y, fitting: bool = False) -> np.ndarray:
        if fitting:
            self.classes_ = np.unique(y)
        return np.searchsorted(self.classes_, y).astype(np.int32)

    def predict_proba(self, X) -> np.ndarray:
        outputs = self._outputs(X).astype(np.float64)
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        outputs = self._outputs(X)  # checks that the estimator is fitted
        return self.classes_[np.argmax(outputs, axis=1)]


class FlaxRegressor(RegressorMixin, FlaxEstimator):
    """A Flax network trained on the standardised target by MSE."""

    _regression = True

    def _encode(self, y, fitting: bool = False) -> np.ndarray:
        y = y.astype(np.float32)
        if fitting:
            self.target_mean_, self.target_scale_ = float(y.mean()), float(y.std() or 1.0)
        return (y - self.target_mean_) / self.target_scale_

    def predict(self, X) -> np.ndarray:
        return self._outputs(X)[:, 0] * self.target_scale_ + self.target_mean_


DATA_ATTRIBUTES = ("classes_", "target_mean_", "target_scale_", "input_mean_", "input_scale_",
                   "table_encoder_", "category_counts_")


def fit_population(estimators: Sequence[FlaxEstimator], X, y, validation_data=None,
                   epoch_callbacks: Sequence[Callable | None] | None = None,
                   together: bool = False) -> list[Exception | None]:
    """Fit a population: estimators that differ only in `POPULATION_PARAMS`, on the same
    data. Each ends as its own ``fit`` would (its own early stopping and best epoch, and
    the same predictions up to rounding); the exception that stopped one (its epoch
    callback's, or a diverging loss) stops it alone and is returned in its place (None
    for those that finished).

    `together`: train them as one ``jax.vmap``'d program (`PopulationTrainer`), on one
    device (the member axis is the parallelism); a population the device has no room for
    is split in halves, and each member's ``train_seconds_`` is the population's. Otherwise
    they train one after another, sharing one compiled program. The engine decides which
    (`automl.search.populations.trains_together`: together on an accelerator)."""
    callbacks = list(epoch_callbacks or [None] * len(estimators))
    if not together:
        return [_fit_alone(estimator, X, y, validation_data, callback)
                for estimator, callback in zip(estimators, callbacks, strict=True)]
    try:
        return _fit_together(estimators, X, y, validation_data, callbacks)
    except Exception as error:  # jax raises its own XlaRuntimeError when memory runs out
        if "RESOURCE_EXHAUSTED" not in str(error) or len(estimators) == 1:
            raise
        half = len(estimators) // 2
        return [*fit_population(estimators[:half], X, y, validation_data, callbacks[:half],
                                True),
                *fit_population(estimators[half:], X, y, validation_data, callbacks[half:],
                                True)]


def _fit_alone(estimator, X, y, validation_data, callback) -> Exception | None:
    try:
        estimator.fit(X, y, validation_data, callback)
    except Exception as error:
        return error
    return None


def _one_group(estimators) -> bool:
    """Whether the estimators share every parameter but `POPULATION_PARAMS` (the engine's
    rule, `automl.api.models.population_groups`)."""
    return len(population_groups([e.get_params() for e in estimators], POPULATION_PARAMS)) == 1


def _fit_together(estimators, X, y, validation_data, callbacks) -> list[Exception | None]:
    if not _one_group(estimators):
        raise ValueError("a population's estimators may differ only in "
                         + ", ".join(sorted(POPULATION_PARAMS)))
    leader = estimators[0]
    data = leader._prepare(X, y, validation_data)
    device = leader._devices()[:1]  # small networks: the member axis is the parallelism
    models, hypers = [], []
    for estimator in estimators:
        for name in DATA_ATTRIBUTES:
            if hasattr(leader, name):
                setattr(estimator, name, getattr(leader, name))
        model, plan = estimator._plan(data, device)
        models.append(model)
        hypers.append(estimator._hyper(plan))
    # members without dropout draw masks that keep everything (rate 0): the same result
    config = replace(plan.config, dropout=any(e.dropout > 0 for e in estimators))
    trainer = PopulationTrainer(models, config,
                                {name: [h[name] for h in hypers] for name in hypers[0]},
                                [e.random_state for e in estimators])
    X_device, y_device, X_val_chunks = plan.place(trainer, data)
    order = np.random.default_rng(leader.random_state)
    stopping = [_EarlyStopping(e.patience, e.max_epochs) for e in estimators]
    errors: list[Exception | None] = [None] * len(estimators)
    seconds = 0.0
    for epoch in range(max(e.max_epochs for e in estimators)):
        training = [i for i, s in enumerate(stopping) if not s.stopped and errors[i] is None]
        if not training:
            break
        compiled_before = trainer.fresh_compile_seconds
        start = time.perf_counter()
        losses, outputs = trainer.run_epoch(X_device, y_device, plan.batches(order), epoch,
                                            X_val_chunks)
        seconds += (time.perf_counter() - start
                    - (trainer.fresh_compile_seconds - compiled_before))
        state = jax.device_get((trainer.params, trainer.rest))
        for i in training:
            estimators[i].train_seconds_ = seconds
            member_state = jax.tree.map(lambda leaf, i=i: leaf[i], state)
            try:
                if estimators[i]._after_epoch(epoch, float(losses[i]),
                                              outputs[i][:len(data.X_val)], data,
                                              member_state, stopping[i], callbacks[i]):
                    stopping[i].stopped = True  # its callback asked it to end here
            except Exception as error:
                errors[i] = error
    for estimator, member_stopping, error in zip(estimators, stopping, errors, strict=True):
        if error is None:
            estimator._finish(trainer, plan, member_stopping, data)
    return errors


def shapes(tree, path: str = "") -> dict[str, tuple[int, ...]]:
    """Each array's shape in a nested dict of weights, by its path of keys."""
    if isinstance(tree, dict):
        return {name: shape for key, value in tree.items()
                for name, shape in shapes(value, f"{path}/{key}").items()}
    return {path: tuple(np.shape(tree))}
