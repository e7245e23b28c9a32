"""Compiled training and evaluation programs, shared across trials of one architecture.

An epoch is one program under ``jax.jit`` in Flax's functional form: the model is split
into a static graph definition and state outside, merged inside; a ``fori_loop`` runs the
steps, then the network's outputs for the validation set are computed. Hyperparameters
that do not change shapes (learning rate and its schedule, weight decay, a non-zero
dropout rate, the number of steps) are traced arguments, and data is padded to bucketed
sizes, so every trial of an architecture reuses one compiled program: compile time
(0.6-3 s per program on a 2-core CPU) often exceeds a short trial's training.

Programs are compiled ahead of time (``lower().compile()``) and cached by everything that
shapes them, so compile time is measured apart from training time. The training data
stays on the devices; each step gathers its batch by index. With several devices the
batch is sharded over a one-axis mesh (data parallelism) and the parameters are
replicated. `PopulationTrainer` trains several models of one architecture at once, the
epoch program vmapped over their stacked weights and hyperparameters.
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from automl_plugins.deep.networks import mix, uniform_bits
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine")
MAX_CACHED_PROGRAMS = 64
FAST_COMPILE = {"cpu": {"xla_cpu_use_fusion_emitters": False}}
"""XLA options, by platform, for programs where compile time counts more than the speed of
large element-wise kernels (`StepConfig.fast_compile`). On a CPU, XLA's older elemental
emitters compile a program in about half the time of its MLIR fusion emitters (a 3-layer
CNN: 0.8-1.0 s against 1.5-1.9 s, 109 kernels against 130) and train CNNs and RNNs as
fast, but run large element-wise kernels (Adam's update of a 256x256 matrix) at half
speed: an MLP's epoch took 10% longer."""
EVAL_CHUNK = 512
MIN_EVAL_CHUNK = 64
CACHE_VARIABLE = "AUTOML_JAX_CACHE"


@dataclass(frozen=True)
class StepConfig:
    """What shapes a training program besides array shapes: all of it is static."""

    graphdef: Any
    optimizer: str
    schedule: str
    regression: bool
    augment: bool
    dropout: bool
    devices: tuple
    fast_compile: bool = False
    """Compile with `FAST_COMPILE`: for networks of many small kernels (CNNs, RNNs)."""
    class_weights: tuple[float, ...] | None = None
    """Weights of the classes in the loss (None: every row counts the same)."""


def make_optimizer(name: str) -> optax.GradientTransformation:
    """The optimiser with learning rate and weight decay as state, set every step."""
    def build(learning_rate, weight_decay):
        if name == "adamw":
            return optax.adamw(learning_rate, weight_decay=weight_decay)
        base = {"adam": optax.adam, "rmsprop": optax.rmsprop,
                "sgd": lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True)}[name]
        return optax.chain(optax.add_decayed_weights(weight_decay), base(learning_rate))
    return optax.inject_hyperparams(build)(learning_rate=0.0, weight_decay=0.0)


def schedule_factor(kind: str, step, total_steps, warmup_steps):
    """Multiplier of the base learning rate at `step` (traced)."""
    if kind == "constant":
        return 1.0
    progress = jnp.clip(step / jnp.maximum(total_steps, 1), 0.0, 1.0)
    cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
    if kind == "cosine":
        return cosine
    warmup = jnp.clip((step + 1) / jnp.maximum(warmup_steps, 1), 0.0, 1.0)
    return jnp.minimum(warmup, cosine)


def random_shift(images, seed, max_shift: int = 1):
    """Shift each image by up to `max_shift` pixels along each axis, padding with zeros."""
    n, height, width, _ = images.shape
    padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)))
    offsets = (uniform_bits(seed, (n, 2)) % (2 * max_shift + 1)).astype(jnp.int32)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                     (height, width, image.shape[-1]))
    return jax.vmap(crop)(padded, offsets)


def loss_of(outputs, targets, regression: bool, class_weights=None):
    if regression:
        return jnp.mean((outputs[:, 0] - targets) ** 2)
    # one-hot, not integer-label indexing: its gradient was three scatter-adds, each a
    # kernel to compile
    one_hot = jax.nn.one_hot(targets, outputs.shape[-1], dtype=outputs.dtype)
    losses = optax.softmax_cross_entropy(outputs, one_hot)
    if class_weights is None:
        return losses.mean()
    weights = one_hot @ jnp.asarray(class_weights, outputs.dtype)
    return (weights * losses).sum() / weights.sum()


@dataclass(frozen=True)
class PackedLayout:
    """The parameters as the optimiser sees them: the vectors (biases, batch-norm scales
    and offsets) packed into one, the matrices and kernels apart, as (vector, matrices).

    XLA's CPU backend compiles three kernels (two moments, the weights) for every array
    the optimiser updates, and compile time is most of a short trial's cost: a 3-layer CNN
    with batch norm has 7 vectors among its 11 arrays. Packing the matrices too cut
    another few kernels but made an MLP's epochs erratically 5-8x slower."""

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, tree) -> PackedLayout:
        leaves, treedef = jax.tree.flatten(tree)
        return cls(treedef, tuple(np.shape(leaf) for leaf in leaves))

    def pack(self, tree, xp=jnp) -> tuple:
        """`tree` (of numpy arrays with ``xp=np``) as (vector, matrices)."""
        leaves = jax.tree.leaves(tree)
        vectors = [leaf for leaf, shape in zip(leaves, self.shapes, strict=True)
                   if len(shape) < 2]
        flat = (xp.concatenate([xp.ravel(v) for v in vectors]) if vectors
                else xp.zeros(0, np.float32))
        return flat, tuple(leaf for leaf, shape in zip(leaves, self.shapes, strict=True)
                           if len(shape) >= 2)

    def unpack(self, packed: tuple):
        """The tree from (vector, matrices), jax or numpy; leading axes are kept (stacked
        members give stacked arrays)."""
        flat, matrices = packed
        matrices, leaves, start = iter(matrices), [], 0
        for shape in self.shapes:
            if len(shape) >= 2:
                leaves.append(next(matrices))
                continue
            stop = start + math.prod(shape)
            leaves.append(flat[..., start:stop].reshape(*flat.shape[:-1], *shape))
            start = stop
        return jax.tree.unflatten(self.treedef, leaves)


def _train_step(config: StepConfig, layout: PackedLayout):
    tx = make_optimizer(config.optimizer)
    batch_sharding = (NamedSharding(Mesh(np.array(config.devices), ("data",)),
                                    PartitionSpec("data"))
                      if len(config.devices) > 1 else None)

    def step(i, carry, X, y, batches, epoch_seed, hyper):
        packed, rest, opt_state, loss_sum = carry
        step_seed = mix(epoch_seed, i)
        batch = batches[i]
        xb, yb = X[batch], y[batch]
        if batch_sharding is not None:
            xb = jax.lax.with_sharding_constraint(xb, batch_sharding)
            yb = jax.lax.with_sharding_constraint(yb, batch_sharding)
        if config.augment:
            xb = random_shift(xb, mix(step_seed, 1))

        def loss_fn(params, rest):  # rest (batch statistics) is updated by the forward pass
            # copy: fresh Variables at this trace level, which BatchNorm may update
            model = nnx.merge(config.graphdef, params, rest, copy=True)
            rate = hyper["dropout"] if config.dropout else None
            outputs = model(xb, True, rate, mix(step_seed, 2))
            _, _, new_rest = nnx.split(model, nnx.Param, ...)
            return loss_of(outputs, yb, config.regression, config.class_weights), new_rest

        (loss, new_rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            layout.unpack(packed), rest)
        factor = schedule_factor(config.schedule, opt_state.count, hyper["total_steps"],
                                 hyper["warmup_steps"])
        opt_state.hyperparams["learning_rate"] = hyper["learning_rate"] * factor
        opt_state.hyperparams["weight_decay"] = hyper["weight_decay"]
        updates, opt_state = tx.update(layout.pack(grads), opt_state, packed)
        return optax.apply_updates(packed, updates), new_rest, opt_state, loss_sum + loss

    predict = _predict_step(config.graphdef)

    def epoch(packed, rest, opt_state, X, y, batches, n_steps, seed, index, hyper, X_val):
        """The first `n_steps` rows of `batches`, then the outputs for `X_val` (a stack of
        evaluation chunks): one program and one dispatch per epoch. The step count is
        traced, so data sizes within one bucket share the program. `packed`: the
        parameters as `layout` packs them."""
        packed, rest, opt_state, loss_sum = jax.lax.fori_loop(
            0, n_steps, lambda i, carry: step(i, carry, X, y, batches, mix(seed, index),
                                              hyper),
            (packed, rest, opt_state, jnp.float32(0.0)))
        params = layout.unpack(packed)
        outputs = jax.lax.map(lambda chunk: predict(params, rest, chunk), X_val)
        return packed, rest, opt_state, loss_sum / n_steps, outputs

    return tx, epoch


def initial_state(tx: optax.GradientTransformation, params) -> Any:
    """`tx.init(params)` without running it: every optimiser in OPTIMIZERS starts from
    zeros (moments, step count, and the injected hyperparameters, set at each step), and
    running ``init`` eagerly compiles a small program per parameter shape (a quarter of a
    second per new architecture on a 2-core CPU)."""
    return jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype),
                        jax.eval_shape(tx.init, params))


def bucket(n: int, steps_per_octave: int = 1) -> int:
    """The smallest bucketed size at or above n: arrays are padded to it so that data sizes
    in one bucket (learning-curve subsets, folds, refits) share compiled programs. Buckets
    are the powers of two, and with `steps_per_octave` > 1 that many evenly spaced sizes
    up to each (160 and 192 between 128 and 256, for 4): less padding, more programs."""
    power = 1 << max(0, n - 1).bit_length()
    step = power // 2 // steps_per_octave
    return power if step < 1 else -(-n // step) * step


def pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` with zero rows appended up to `rows`."""
    if len(array) == rows:
        return array
    return np.concatenate([array, np.zeros((rows - len(array), *array.shape[1:]),
                                           array.dtype)])


def eval_chunks(X: np.ndarray, n_devices: int = 1) -> np.ndarray:
    """X padded and reshaped to (chunks, chunk rows, ...): chunks of a bucketed size from
    MIN_EVAL_CHUNK to EVAL_CHUNK rows, divisible over `n_devices`. Every epoch computes
    the validation outputs, so the buckets are finer than the training data's (4 a
    factor of two): a validation set of 144 rows pads to 160, not 256 (3% of a CNN epoch
    on digits)."""
    chunk = min(EVAL_CHUNK, bucket(max(len(X), n_devices, MIN_EVAL_CHUNK), 4))
    chunk = -(-chunk // n_devices) * n_devices
    n_chunks = -(-len(X) // chunk)
    return pad_rows(X, n_chunks * chunk).reshape(n_chunks, chunk, *X.shape[1:])


def _predict_step(graphdef):
    def predict(params, rest, X):
        model = nnx.merge(graphdef, params, rest)
        return model(X, False, 0.0, jnp.uint32(0))
    return predict


def persistent_cache_folder() -> str | None:
    """Where compiled programs are kept between runs: $AUTOML_JAX_CACHE, else
    $XDG_CACHE_HOME/automl/jax (~/.cache/automl/jax); None when the variable is "off"."""
    folder = os.environ.get(CACHE_VARIABLE)
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        folder = os.path.join(base, "automl", "jax")
    return None if folder.lower() in ("", "0", "off", "false", "no") else folder


def use_persistent_cache() -> None:
    """Turn on JAX's persistent compilation cache, unless the user configured one: a rerun
    of a task, or a later trial of an architecture compiled by another process (a
    worker), loads programs from disk instead of compiling them again (a CNN program:
    0.45 s with its tracing, against 2.4 s)."""
    folder = persistent_cache_folder()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


class ProgramCache:
    """Compiled programs by configuration and argument shapes, least recently used out.

    Each entry keeps the seconds its compilation took, so a fit that reuses a program still
    knows (and reports) what compiling it cost."""

    def __init__(self, size: int = MAX_CACHED_PROGRAMS):
        self.size = size
        self.entries: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self.compiled = 0
        """How many programs this cache compiled (or loaded from the persistent cache)."""
        self.compile_seconds = 0.0
        """What compiling them cost in all."""

    def get(self, key: Hashable, function, args, options: dict | None = None
            ) -> tuple[Any, float, bool]:
        """(compiled program, its compile seconds, whether it came from the cache);
        `options` are XLA's compile options (part of `key` where they vary)."""
        key = (key, _signature(args))
        if key in self.entries:
            self.entries.move_to_end(key)
            return (*self.entries[key], True)
        if not self.compiled:
            use_persistent_cache()
        start = time.perf_counter()
        compiled = jax.jit(function).lower(*args).compile(options)
        seconds = time.perf_counter() - start
        self.compiled += 1
        self.compile_seconds += seconds
        self.entries[key] = (compiled, seconds)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return compiled, seconds, False


def _signature(args) -> tuple:
    leaves, tree = jax.tree.flatten(args)
    return tree, tuple((np.shape(leaf), str(leaf.dtype),
                        str(getattr(leaf, "sharding", ""))) for leaf in leaves)


PROGRAMS = ProgramCache()


@dataclass
class Trainer:
    """Trains one model: builds the optimiser state, places data, runs epochs."""

    model: nnx.Module
    config: StepConfig
    hyper: dict
    seed: int
    """Where the training's random numbers (dropout masks, shifts) are hashed from."""
    fresh_compile_seconds: float = 0.0
    """Seconds this trainer spent compiling (0 when every program came from the cache)."""
    PROGRAM = "train"

    def __post_init__(self):
        self.layout, packed, rest, hyper = self._initial_state()
        self.tx, self._epoch = _train_step(self.config, self.layout)
        self.replicated = (NamedSharding(Mesh(np.array(self.config.devices), ("data",)),
                                         PartitionSpec())
                           if len(self.config.devices) > 1 else self.config.devices[0])
        self.packed, self.rest, self.opt_state, self.hyper = jax.device_put(
            (packed, rest, self._optimiser_state(packed), hyper), self.replicated)
        self.seeds = np.asarray(np.asarray(self.seed) % 2 ** 32, np.uint32)
        self.programs: dict[tuple, tuple[Any, float, bool]] = {}
        """Epoch programs by data shapes: (program, its compile seconds, whether reused)."""

    def _initial_state(self):
        """The parameters' layout, the packed parameters, the rest of the model's state,
        and the hyperparameters as arrays."""
        _, params, rest = nnx.split(self.model, nnx.Param, ...)
        layout = PackedLayout.of(params)
        hyper = {name: np.float32(value) for name, value in self.hyper.items()}
        return layout, layout.pack(params, np), rest, hyper

    def _optimiser_state(self, packed):
        return initial_state(self.tx, packed)

    @property
    def params(self):
        """The parameters now, as the model's tree."""
        return self.layout.unpack(self.packed)

    @property
    def compile_seconds(self) -> float:
        """What compiling the programs this trainer used cost, cached or not."""
        return sum(seconds for _, seconds, _ in self.programs.values())

    @property
    def programs_reused(self) -> int:
        return sum(reused for _, _, reused in self.programs.values())

    def put(self, array: np.ndarray) -> jax.Array:
        """Place data on every device once; batches are gathered on the devices."""
        return jax.device_put(array, self.replicated)

    def epoch_program(self, args, data_shapes: tuple):
        """The compiled epoch program for `args`, from the shared cache, noting what
        compiling it cost. The trainer keeps it by the shapes of the data arguments (all
        that changes between its epochs): the shared cache's lookup flattens every
        argument, 0.5 ms a call, 5% of an MLP epoch on digits."""
        if data_shapes not in self.programs:
            key = (self.PROGRAM, self.config)
            options = (FAST_COMPILE.get(self.config.devices[0].platform)
                       if self.config.fast_compile else None)
            program, seconds, reused = PROGRAMS.get(key, self._epoch, args, options)
            if not reused:
                self.fresh_compile_seconds += seconds
            self.programs[data_shapes] = (program, seconds, reused)
        return self.programs[data_shapes][0]

    def put_data(self, X: np.ndarray, y: np.ndarray) -> tuple[jax.Array, jax.Array]:
        """Place the training data on every device once, padded to a bucketed number of
        rows (padding is never drawn into a batch); batches are gathered on the devices."""
        rows = bucket(len(X))
        return self.put(pad_rows(X, rows)), self.put(pad_rows(y, rows))

    def run_epoch(self, X: jax.Array, y: jax.Array, batches: np.ndarray, epoch: int,
                  X_val: jax.Array) -> tuple[float, np.ndarray]:
        """Epoch number `epoch`: one pass over `batches` (a steps x batch_size index
        matrix). The mean loss, and the network's outputs after it for `X_val` (as made by
        `eval_chunks`)."""
        n_steps = len(batches)
        batches = self.put(pad_rows(batches, bucket(n_steps)))
        args = (self.packed, self.rest, self.opt_state, X, y, batches, np.int32(n_steps),
                self.seeds, np.int32(epoch), self.hyper, X_val)
        epoch = self.epoch_program(args, (X.shape, y.shape, batches.shape, X_val.shape))
        self.packed, self.rest, self.opt_state, loss, outputs = epoch(*args)
        outputs, loss = np.asarray(outputs), np.asarray(loss)
        rows = outputs.shape[:-3] + (-1, outputs.shape[-1])  # chunks into rows
        return (loss if loss.ndim else float(loss)), outputs.reshape(rows)


@dataclass
class PopulationTrainer(Trainer):
    """Trains a population (models of one architecture, one `StepConfig`, each with its
    own weights and hyperparameters) together: weights, optimiser states and
    hyperparameters are stacked on a leading axis and each epoch is one ``jax.vmap``'d
    program. On an accelerator, small models leave most of the device idle; K of them in
    one program cost little more than one. `model` is the list of the members' models;
    `hyper` and `seed` hold one value per member; `run_epoch` returns the members' losses
    (K,) and validation outputs (K, rows, outputs). One device only: the member axis is
    not sharded."""

    PROGRAM = "train population"

    def __post_init__(self):
        if len(self.config.devices) > 1:
            raise ValueError("a population trains on one device")
        super().__post_init__()
        self._epoch = jax.vmap(self._epoch, in_axes=(0, 0, 0, None, None, None, None, 0,
                                                     None, 0, None))

    def _initial_state(self):
        members = [nnx.split(model, nnx.Param, ...)[1:] for model in self.model]
        layout = PackedLayout.of(members[0][0])
        packed, rest = (jax.tree.map(lambda *leaves: np.stack(leaves), *parts) for parts in
                        zip(*((layout.pack(params, np), rest) for params, rest in members),
                            strict=True))
        hyper = {name: np.asarray(values, np.float32) for name, values in self.hyper.items()}
        return layout, packed, rest, hyper

    def _optimiser_state(self, packed):
        members = len(self.model)
        return jax.tree.map(lambda leaf: np.zeros((members, *leaf.shape), leaf.dtype),
                            initial_state(self.tx, jax.tree.map(lambda a: a[0], packed)))


def predict_outputs(graphdef, params, rest, X: np.ndarray) -> np.ndarray:
    """Outputs of the network for X, evaluated in padded chunks (one compiled shape for
    any number of rows in a bucket)."""
    predict = _predict_step(graphdef)
    results = []
    for chunk in eval_chunks(X):
        args = (params, rest, jnp.asarray(chunk))
        compiled = PROGRAMS.get(("predict", graphdef), predict, args)[0]
        results.append(np.asarray(compiled(*args)))
    return np.concatenate(results)[:len(X)]


def input_gradients(graphdef, params, rest, X: np.ndarray, targets: np.ndarray,
                    regression: bool) -> np.ndarray:
    """Per row of X, the gradient with respect to the input of the target class's
    log-probability (of the output, for regression), in evaluation mode (batch norm on
    its running averages, so each row's gradient is its own), in padded chunks."""
    def objective(x, target):
        outputs = nnx.merge(graphdef, params, rest)(x, False, 0.0, jnp.uint32(0))
        if regression:
            return outputs[:, 0].sum()
        log_proba = jax.nn.log_softmax(outputs)
        return jnp.take_along_axis(log_proba, target[:, None], axis=1).sum()
    gradient = jax.jit(jax.grad(objective))
    found = []
    for chunk, target in zip(eval_chunks(X), eval_chunks(targets), strict=True):
        found.append(np.asarray(gradient(jnp.asarray(chunk), jnp.asarray(target))))
    return np.concatenate(found)[:len(X)]
