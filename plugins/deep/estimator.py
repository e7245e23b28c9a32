"""Flax networks as scikit-learn estimators: `FlaxClassifier` and `FlaxRegressor`.

``fit`` trains with early stopping on a validation set: the one passed as
``validation_data``, else a (stratified) share of X set aside with the estimator's seed.
An ``epoch_callback(epoch, estimator)`` is called after every epoch with the estimator
holding that epoch's parameters; the engine scores it there and reports to Optuna's
pruner. The validation outputs are computed inside each epoch's compiled program, so
predicting on ``validation_data``'s own array (the same object, unmodified) during the
callback, or after fit for the best epoch, reuses them instead of compiling a prediction
program. Same seed, same device: same predictions.

Fitted attributes: ``compile_seconds_`` (compiling the programs this fit used, whether
compiled now or reused from an earlier fit of the same architecture),
``fresh_compile_seconds_`` (the part compiled during this fit), ``train_seconds_`` (the
epochs: training steps and validation outputs, without compiling),
``samples_per_second_``, ``n_params_``, ``n_epochs_``, ``best_epoch_``, ``device_``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import numpy as np
from automl_plugins.deep import networks
from automl_plugins.deep.training import StepConfig, Trainer, eval_chunks, predict_outputs
from flax import nnx
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split

NETWORKS = ("mlp", "cnn", "rnn")


class FlaxEstimator(BaseEstimator):
    """Shared fit/predict logic; use `FlaxClassifier` or `FlaxRegressor`."""

    _regression = False

    def __init__(self, network: str = "mlp", depth: int = 2, width: int = 128,
                 width_factor: float = 1.0, kernel_size: int = 3, activation: str = "relu",
                 dropout: float = 0.0, batch_norm: bool = False, pooling: str = "max",
                 cell: str = "gru", bidirectional: bool = False, optimizer: str = "adam",
                 learning_rate: float = 1e-3, weight_decay: float = 0.0,
                 batch_size: int = 128, max_epochs: int = 100, patience: int = 10,
                 schedule: str = "constant", augment: bool = False,
                 validation_fraction: float = 0.1, random_state: int = 0,
                 device: str = "auto", n_devices: int | None = None):
        self.network = network
        self.depth = depth
        self.width = width
        self.width_factor = width_factor
        self.kernel_size = kernel_size
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.pooling = pooling
        self.cell = cell
        self.bidirectional = bidirectional
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.schedule = schedule
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.n_devices = n_devices

    # -- building ------------------------------------------------------------------------

    def _devices(self) -> tuple:
        from automl.devices import resolve_device
        platform = resolve_device(self.device)
        devices = jax.local_devices(backend=platform)
        return tuple(devices[:self.n_devices] if self.n_devices else devices)

    def _build_network(self, input_shape, n_outputs: int, platform: str) -> nnx.Module:
        init = networks.HostInit(self.random_state)
        widths = networks.layer_widths(self.width, self.depth, self.width_factor)
        if self.network == "mlp":
            return networks.MLP(int(np.prod(input_shape)), widths, n_outputs,
                                self.activation, init=init)
        if self.network == "cnn":
            if len(input_shape) not in (2, 3):
                raise ValueError("the CNN takes images (height, width, channels) or "
                                 f"sequences (length, channels), not shape {input_shape}")
            return networks.CNN(input_shape, widths, self.kernel_size, n_outputs,
                                self.activation, self.batch_norm, self.pooling,
                                im2col=platform == "cpu", init=init)
        if self.network == "rnn":
            if len(input_shape) != 2:
                raise ValueError("the RNN takes sequences (length, channels), not shape "
                                 f"{input_shape}")
            return networks.RNN(input_shape[-1], self.width, self.depth, self.cell,
                                self.bidirectional, n_outputs, init=init)
        raise ValueError(f"network must be one of {NETWORKS}, not {self.network!r}")

    # -- fitting -------------------------------------------------------------------------

    def _encode(self, y) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X, y, validation_data=None,
            epoch_callback: Callable[[int, FlaxEstimator], None] | None = None):
        X = np.asarray(X, dtype=np.float32)
        targets = self._encode(np.asarray(y), fitting=True)
        if validation_data is None:
            X, X_val, targets, y_val = self._validation_split(X, targets)
        else:
            X_val = np.asarray(validation_data[0], dtype=np.float32)
            y_val = self._encode(np.asarray(validation_data[1]))
        # Standardise inputs: per feature for tables, per channel for images and sequences.
        axes = 0 if X.ndim == 2 else tuple(range(X.ndim - 1))
        self.input_mean_ = X.mean(axis=axes)
        self.input_scale_ = np.where(X.std(axis=axes) > 0, X.std(axis=axes), 1.0)
        X, X_val = self._standardise(X), self._standardise(X_val)
        devices = self._devices()
        platform = devices[0].platform
        n_outputs = 1 if self._regression else len(self.classes_)
        model = self._build_network(X.shape[1:], n_outputs, platform)
        self.n_params_ = networks.count_parameters(model)
        self.input_shape_ = tuple(X.shape[1:])
        self.device_ = f"{platform} x{len(devices)}"

        # A batch splits evenly over the devices and never exceeds the data.
        batch = min(self.batch_size, len(X)) // len(devices) * len(devices)
        if batch == 0:
            raise ValueError(f"{len(X)} training samples cannot be split over "
                             f"{len(devices)} devices")
        steps_per_epoch = len(X) // batch
        total_steps = steps_per_epoch * self.max_epochs
        config = StepConfig(nnx.split(model, nnx.Param, ...)[0], self.optimizer, self.schedule,
                            self._regression, self.augment and X.ndim == 4, self.dropout > 0,
                            devices)
        trainer = Trainer(model, config, {
            "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
            "dropout": self.dropout, "total_steps": total_steps,
            "warmup_steps": max(1, total_steps // 20)})
        X_device, y_device = trainer.put_data(X, targets)
        X_val_chunks = trainer.put(eval_chunks(X_val, len(devices)))
        # the caller's own validation array, whose outputs each epoch computes anyway
        given_X_val = validation_data[0] if validation_data is not None else None
        order = np.random.default_rng(self.random_state)
        key = jax.random.key(self.random_state)
        best = (np.inf, 0, trainer.params, trainer.rest, None)
        self.train_seconds_, self.n_epochs_ = 0.0, 0
        self.graphdef_ = config.graphdef
        for epoch in range(self.max_epochs):
            batches = order.permutation(len(X))[:steps_per_epoch * batch].reshape(
                steps_per_epoch, batch).astype(np.int32)
            compiled_before = trainer.fresh_compile_seconds
            start = time.perf_counter()
            train_loss, val_outputs = trainer.run_epoch(
                X_device, y_device, batches, jax.random.fold_in(key, epoch), X_val_chunks)
            self.train_seconds_ += (time.perf_counter() - start
                                    - (trainer.fresh_compile_seconds - compiled_before))
            self.n_epochs_ = epoch + 1
            if not np.isfinite(train_loss):
                raise FloatingPointError(f"the training loss became {train_loss} at epoch "
                                         f"{epoch + 1} (learning rate {self.learning_rate:g})")
            val_outputs = val_outputs[:len(X_val)]
            val_loss = self._loss(val_outputs, y_val)
            if val_loss < best[0] - 1e-6:
                best = (val_loss, epoch, trainer.params, trainer.rest, val_outputs)
            self.params_, self.rest_ = trainer.params, trainer.rest
            if epoch_callback is not None:
                # predicting validation_data now reuses the outputs the epoch computed
                self._known_outputs = (given_X_val, val_outputs)
                epoch_callback(epoch, self)
            if epoch - best[1] >= self.patience:
                break
        # the engine scores the best epoch on validation_data next: no predict program
        self._known_outputs = (given_X_val, best[4])
        _, self.best_epoch_, self.params_, self.rest_, _ = best
        self.compile_seconds_ = trainer.compile_seconds
        self.fresh_compile_seconds_ = trainer.fresh_compile_seconds
        self.programs_reused_ = trainer.programs_reused
        samples = self.n_epochs_ * steps_per_epoch * batch
        self.samples_per_second_ = samples / max(self.train_seconds_, 1e-9)
        return self

    def _validation_split(self, X: np.ndarray, targets: np.ndarray):
        """Set `validation_fraction` of the data aside for early stopping, stratified when
        every class can appear on both sides (tiny data, as in learning curves, may not
        allow it)."""
        n_val = max(1, round(self.validation_fraction * len(X)))
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
              "best_epoch_", "classes_", "target_mean_", "target_scale_")

    def to_bytes(self) -> bytes:
        """The fitted estimator as msgpack (`flax.serialization`): its parameters, fitted
        attributes and network weights."""
        from flax import serialization
        fitted = {name: getattr(self, name) for name in self.FITTED if hasattr(self, name)}
        fitted["input_shape_"] = list(self.input_shape_)
        weights = {part: jax.tree.map(np.asarray, nnx.to_pure_dict(getattr(self, part)))
                   for part in ("params_", "rest_")}
        return serialization.msgpack_serialize(
            {"init": self.get_params(), "fitted": fitted, "weights": weights})

    @classmethod
    def from_bytes(cls, data: bytes) -> FlaxEstimator:
        """An estimator saved by `to_bytes`, ready to predict on this machine's devices."""
        from flax import serialization
        saved = serialization.msgpack_restore(data)
        # "auto": predict on whatever this machine has, not the training machine's GPU
        estimator = cls(**{**saved["init"], "device": "auto"})
        for name, value in saved["fitted"].items():
            setattr(estimator, name, value)
        estimator.input_shape_ = tuple(estimator.input_shape_)
        n_outputs = 1 if cls._regression else len(estimator.classes_)
        platform = estimator._devices()[0].platform
        model = estimator._build_network(estimator.input_shape_, n_outputs, platform)
        estimator.graphdef_, params, rest = nnx.split(model, nnx.Param, ...)
        nnx.replace_by_pure_dict(params, saved["weights"]["params_"])
        nnx.replace_by_pure_dict(rest, saved["weights"]["rest_"])
        estimator.params_, estimator.rest_ = params, rest
        return estimator

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.input_mean_) / self.input_scale_).astype(np.float32)

    def _outputs(self, X) -> np.ndarray:
        known_X, known_outputs = getattr(self, "_known_outputs", (None, None))
        if known_X is not None and known_outputs is not None and X is known_X:
            return known_outputs
        X = self._standardise(np.asarray(X, dtype=np.float32))
        return predict_outputs(self.graphdef_, self.params_, self.rest_, X)


class FlaxClassifier(ClassifierMixin, FlaxEstimator):
    """A Flax network (MLP, CNN or RNN) trained with softmax cross-entropy."""

    def _encode(self, y, fitting: bool = False) -> np.ndarray:
        if fitting:
            self.classes_ = np.unique(y)
        return np.searchsorted(self.classes_, y).astype(np.int32)

    def predict_proba(self, X) -> np.ndarray:
        outputs = self._outputs(X).astype(np.float64)
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self._outputs(X), axis=1)]


class FlaxRegressor(RegressorMixin, FlaxEstimator):
    """A Flax network (MLP, CNN or RNN) trained on the standardised target by MSE."""

    _regression = True

    def _encode(self, y, fitting: bool = False) -> np.ndarray:
        y = y.astype(np.float32)
        if fitting:
            self.target_mean_, self.target_scale_ = float(y.mean()), float(y.std() or 1.0)
        return (y - self.target_mean_) / self.target_scale_

    def predict(self, X) -> np.ndarray:
        return self._outputs(X)[:, 0] * self.target_scale_ + self.target_mean_
