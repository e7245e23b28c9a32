"""The networks of the deep families, as Flax NNX modules.

Every module is called as ``model(x, train, dropout, seed)``. The dropout rate is an
argument (a traced scalar under ``jax.jit``, or None for no dropout), not a module
attribute, so trials that differ only in a non-zero dropout rate share one compiled
training step. `seed` is a uint32 scalar that the random numbers are hashed from (`mix`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from itertools import pairwise

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

ACTIVATIONS = {"relu": jax.nn.relu, "gelu": jax.nn.gelu, "tanh": jnp.tanh,
               "silu": jax.nn.silu}


class HostInit:
    """Initial weights drawn by numpy on the host, in construction order from one seed.

    ``jax.random`` initialisers compile an XLA program for every new weight shape: 0.3-0.5
    s each on a 2-core CPU, two thirds of a short trial's fit. The distributions are
    Flax's defaults: truncated-normal variance scaling (LeCun for dense layers, He for
    convolutions), orthogonal recurrent kernels, zero biases. `rngs` is what NNX's own
    layers need besides (they draw nothing from it once given these initialisers).
    """

    def __init__(self, seed: int):
        self.generator = np.random.default_rng(seed)
        self.rngs = nnx.Rngs(params=seed)

    def _truncated_normal(self, shape, stddev: float) -> jax.Array:
        values = self.generator.standard_normal(shape)
        outside = np.abs(values) > 2
        while outside.any():
            values[outside] = self.generator.standard_normal(outside.sum())
            outside = np.abs(values) > 2
        # .8796 is the standard deviation of a unit normal truncated to [-2, 2]
        return jnp.asarray(values * stddev / 0.87962566103423978, jnp.float32)

    def lecun_normal(self, key, shape, dtype=jnp.float32) -> jax.Array:
        return self._truncated_normal(shape, math.sqrt(1 / math.prod(shape[:-1])))

    def he_normal(self, key, shape, dtype=jnp.float32) -> jax.Array:
        return self._truncated_normal(shape, math.sqrt(2 / math.prod(shape[:-1])))

    def orthogonal(self, key, shape, dtype=jnp.float32) -> jax.Array:
        rows, columns = math.prod(shape[:-1]), shape[-1]
        matrix = self.generator.standard_normal((max(rows, columns), min(rows, columns)))
        q, r = np.linalg.qr(matrix)
        q *= np.sign(np.diag(r))
        return jnp.asarray(q.T if rows < columns else q, jnp.float32).reshape(shape)

    @staticmethod
    def zeros(key, shape, dtype=jnp.float32) -> jax.Array:
        return jnp.asarray(np.zeros(shape, np.float32))

    @staticmethod
    def ones(key, shape, dtype=jnp.float32) -> jax.Array:
        return jnp.asarray(np.ones(shape, np.float32))

    def linear(self, n_inputs: int, n_outputs: int) -> nnx.Linear:
        return nnx.Linear(n_inputs, n_outputs, kernel_init=self.lecun_normal,
                          bias_init=self.zeros, rngs=self.rngs)


class ShapesOnly(HostInit):
    """Zeros where `HostInit` draws weights, made with jax.numpy so that inside
    ``nnx.eval_shape`` a network is built as shapes only, allocating nothing: for a saved
    network, whose weights replace them."""

    def _truncated_normal(self, shape, stddev: float) -> jax.Array:
        return jnp.zeros(shape, jnp.float32)

    def orthogonal(self, key, shape, dtype=jnp.float32) -> jax.Array:
        return jnp.zeros(shape, jnp.float32)

    @staticmethod
    def zeros(key, shape, dtype=jnp.float32) -> jax.Array:
        return jnp.zeros(shape, jnp.float32)

    @staticmethod
    def ones(key, shape, dtype=jnp.float32) -> jax.Array:
        return jnp.ones(shape, jnp.float32)


def dropout(x: jax.Array, rate: jax.Array | None, seed: jax.Array,
            train: bool) -> jax.Array:
    """Inverted dropout with a traced rate; identity when not training or when `rate` is
    None (a network trained without dropout draws no random masks)."""
    if not train or rate is None:
        return x
    keep = 1.0 - rate
    threshold = jnp.minimum(rate * 2.0 ** 32, 2.0 ** 32 - 1).astype(jnp.uint32)
    mask = uniform_bits(seed, x.shape) >= threshold
    return jnp.where(mask, x / keep, 0.0)


GOLDEN = 0x9E3779B1  # 2**32 / the golden ratio: spreads consecutive integers apart


def _finalise(h: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser: every input bit flips each output bit about half
    the time."""
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = (h ^ (h >> shift)) * jnp.uint32(multiplier)
    return h ^ (h >> 16)


def mix(seed, *words) -> jax.Array:
    """A new uint32 seed from `seed` and integer `words` (an epoch, a step, a layer), as
    ``jax.random.fold_in`` makes keys. Random numbers in a training step come from hashes,
    not ``jax.random``: Threefry costs about 6 ns a number on a CPU (30% of an MLP step
    for dropout masks), and its key splits and fold-ins were a tenth of a CNN program's
    kernels, each compiled on its own (compile time is most of a short trial's cost)."""
    h = jnp.asarray(seed, jnp.uint32)
    for word in words:
        word = jnp.asarray(word, jnp.uint32) + jnp.uint32(GOLDEN)  # 0 must not hash to 0
        h = _finalise(h * jnp.uint32(GOLDEN) + _finalise(word))
    return h


def uniform_bits(seed: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Uniform uint32s: `seed` hashed with each position. Masks and shifts need
    independence, not cryptographic strength."""
    positions = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    return _finalise(positions * jnp.uint32(GOLDEN) + jnp.asarray(seed, jnp.uint32))


def layer_widths(width: int, depth: int, factor: float, *, low: int = 4,
                 high: int = 1024) -> list[int]:
    """Widths of `depth` layers, the first `width`, each next one `factor` times the last."""
    return [int(min(high, max(low, round(width * factor ** i)))) for i in range(depth)]


class TableInputs(nnx.Module):
    """The input layer of an MLP on a table: a learned embedding of each categorical
    column (its integer codes come first in x, -1 for missing or unseen) and, with
    `periodic`, numeric embeddings (Gorishniy et al., 2022; RealMLP's PBLD): each number
    x becomes [sin, cos](2 pi c x) for learned frequencies c, then a per-column dense
    layer with ReLU. Without it, numbers go in as they are."""

    def __init__(self, category_counts: Sequence[int], n_numeric: int,
                 embedding_dim: int, periodic: bool, *, init: HostInit,
                 frequencies: int = 8, numeric_dim: int = 8):
        self.n_codes = len(category_counts)
        # one extra row per column for missing or unseen categories (code -1)
        self.embeddings = nnx.List([
            nnx.Param(init._truncated_normal((count + 1, embedding_dim), 1.0))
            for count in category_counts])
        self.periodic = periodic and n_numeric > 0
        if self.periodic:
            self.frequencies = nnx.Param(jnp.asarray(
                init.generator.normal(0.0, 1.0, (n_numeric, frequencies)), jnp.float32))
            self.numeric_kernel = nnx.Param(init._truncated_normal(
                (n_numeric, 2 * frequencies, numeric_dim), math.sqrt(1 / (2 * frequencies))))
            self.numeric_bias = nnx.Param(init.zeros(None, (n_numeric, numeric_dim)))
        self.n_outputs = (len(category_counts) * embedding_dim
                          + n_numeric * (numeric_dim if self.periodic else 1))

    def __call__(self, x):
        codes, numbers = x[:, :self.n_codes], x[:, self.n_codes:]
        parts = []
        if self.periodic:
            angles = 2 * jnp.pi * numbers[..., None] * self.frequencies[...]
            waves = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
            embedded = jnp.einsum("bnk,nkd->bnd", waves, self.numeric_kernel[...])
            parts.append(jax.nn.relu(embedded + self.numeric_bias[...]).reshape(
                x.shape[0], -1))
        else:
            parts.append(numbers)
        for column, table in enumerate(self.embeddings):
            # one-hot times the table, not a gather: its gradient is one matrix product
            index = codes[:, column].astype(jnp.int32) + 1
            one_hot = jax.nn.one_hot(index, table.shape[0], dtype=x.dtype)
            parts.append(one_hot @ table[...])
        return jnp.concatenate(parts, axis=-1)


class MLP(nnx.Module):
    """Dense layers on the flattened input: [dense, activation, dropout] x depth, output.
    On a table with categorical columns or numeric embeddings, `TableInputs` comes first
    (`category_counts`, `embedding_dim`, `periodic`)."""

    def __init__(self, n_inputs: int, widths: Sequence[int], n_outputs: int,
                 activation: str, *, init: HostInit, category_counts: Sequence[int] = (),
                 embedding_dim: int = 8, periodic: bool = False):
        table = None  # assigned once: NNX keeps an attribute first set to None static
        if category_counts or periodic:
            table = TableInputs(category_counts, n_inputs - len(category_counts),
                                embedding_dim, periodic, init=init)
            n_inputs = table.n_outputs
        self.table = table
        sizes = [n_inputs, *widths]
        self.hidden = nnx.List([init.linear(a, b) for a, b in pairwise(sizes)])
        self.output = init.linear(sizes[-1], n_outputs)
        self.activation = activation

    def __call__(self, x, train: bool, rate, seed):
        x = x.reshape(x.shape[0], -1)
        if self.table is not None:
            x = self.table(x)
        for i, layer in enumerate(self.hidden):
            x = dropout(ACTIVATIONS[self.activation](layer(x)), rate, mix(seed, i), train)
        return self.output(x)


class Conv(nnx.Module):
    """A 'same'-padded convolution over 1 or 2 spatial axes (channels last).

    With ``im2col`` the convolution is written as shifted slices concatenated along the
    channels, then one matrix product: on XLA's CPU backend its gradient is faster than
    ``lax.conv``'s (and far faster inside loops); on accelerators ``lax.conv`` wins.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int],
                 im2col: bool, use_bias: bool, *, init: HostInit):
        # He: fan-in is kernel size x input channels
        self.kernel = nnx.Param(init.he_normal(None, (*kernel, in_channels, out_channels)))
        # Before batch norm a bias has no effect, and its float-noise gradient becomes
        # full-size steps under Adam's normalisation: leave it out there.
        self.bias = nnx.Param(init.zeros(None, (out_channels,))) if use_bias else None
        self.im2col = im2col

    def _add_bias(self, y):
        return y if self.bias is None else y + self.bias[...]

    def __call__(self, x):
        kernel = self.kernel[...]
        spatial = kernel.shape[:-2]
        if not self.im2col:
            dims = ("NWC", "WIO", "NWC") if len(spatial) == 1 else ("NHWC", "HWIO", "NHWC")
            return self._add_bias(jax.lax.conv_general_dilated(
                x, kernel, (1,) * len(spatial), "SAME", dimension_numbers=dims))
        # Patches one spatial axis at a time (last first, so that columns are ordered as
        # the kernel's rows): 3 + 3 shifted slices for a 3x3 kernel, not 9. XLA's CPU
        # backend compiles every slice as its own kernel; this cuts a CNN program's
        # kernels by a sixth and its compile time by about a quarter.
        pads = [(k // 2, k - 1 - k // 2) for k in spatial]
        columns = jnp.pad(x, [(0, 0), *pads, (0, 0)])
        for axis in reversed(range(1, len(spatial) + 1)):
            columns = jnp.concatenate(
                [jax.lax.slice_in_dim(columns, i, i + x.shape[axis], axis=axis)
                 for i in range(spatial[axis - 1])], axis=-1)
        # One 2-D product (rows: every position of every image): the gradient of a
        # product over (batch, height, width, k) transposed into badly laid-out dots on
        # XLA's CPU backend, 20% of a CNN step on digits.
        rows = columns.reshape(-1, columns.shape[-1])
        outputs = rows @ kernel.reshape(-1, kernel.shape[-1])
        return self._add_bias(outputs.reshape(*columns.shape[:-1], -1))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _normalise_batch(x, scale, bias, epsilon: float):
    """Batch normalisation in training: (x - mean) / std * scale + bias over all but the
    channel axis, and the batch mean and variance."""
    return _normalise_batch_forward(x, scale, bias, epsilon)[0]


def _normalise_batch_forward(x, scale, bias, epsilon):
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    var = jnp.maximum((x * x).mean(axis=axes) - mean * mean, 0.0)
    inverse_std = jax.lax.rsqrt(var + epsilon)
    normalised = (x - mean) * inverse_std
    return (normalised * scale + bias, mean, var), (normalised, scale, inverse_std)


def _normalise_batch_backward(epsilon, residuals, cotangents):
    # The closed form: two reductions over the batch, where differentiating the forward
    # pass gives four and the kernels around them (each compiled on its own).
    normalised, scale, inverse_std = residuals
    dy = cotangents[0]  # the batch statistics feed only the running averages
    axes = tuple(range(dy.ndim - 1))
    dbias = dy.sum(axis=axes)
    dscale = (dy * normalised).sum(axis=axes)
    n = dy.size // dy.shape[-1]
    dx = scale * inverse_std * (dy - (dbias + normalised * dscale) / n)
    return dx, dscale, dbias


_normalise_batch.defvjp(_normalise_batch_forward, _normalise_batch_backward)


class BatchNorm(nnx.Module):
    """Batch normalisation over the channel (last) axis, as ``nnx.BatchNorm`` (momentum
    0.99, epsilon 1e-5, the same parameter and statistic names) with its gradient written
    out: a third fewer kernels in a CNN program."""

    def __init__(self, channels: int, momentum: float = 0.99, epsilon: float = 1e-5):
        self.scale = nnx.Param(jnp.asarray(np.ones(channels, np.float32)))
        self.bias = nnx.Param(jnp.asarray(np.zeros(channels, np.float32)))
        self.mean = nnx.BatchStat(jnp.asarray(np.zeros(channels, np.float32)))
        self.var = nnx.BatchStat(jnp.asarray(np.ones(channels, np.float32)))
        self.momentum, self.epsilon = momentum, epsilon

    def __call__(self, x, use_running_average: bool):
        scale, bias = self.scale[...], self.bias[...]
        if use_running_average:
            return (x - self.mean[...]) * jax.lax.rsqrt(self.var[...] + self.epsilon) \
                * scale + bias
        y, mean, var = _normalise_batch(x, scale, bias, self.epsilon)
        m = self.momentum
        self.mean[...] = m * self.mean[...] + (1 - m) * jax.lax.stop_gradient(mean)
        self.var[...] = m * self.var[...] + (1 - m) * jax.lax.stop_gradient(var)
        return y


def pool(x, kind: str):
    """Halve every spatial axis (cropping an odd last element) by max or mean."""
    spatial = x.shape[1:-1]
    x = x[(slice(None), *(slice(0, s - s % 2) for s in spatial))]
    shape = [x.shape[0]]
    for s in spatial:
        shape += [s // 2, 2]
    x = x.reshape(*shape, x.shape[-1])
    axes = tuple(2 + 2 * i for i in range(len(spatial)))
    return x.max(axis=axes) if kind == "max" else x.mean(axis=axes)


class CNN(nnx.Module):
    """[conv, batch norm?, activation, pool?] x depth, dropout, dense output.

    Pooling halves the spatial size after a layer while every spatial axis is at least 4
    long, so deep stacks on small inputs (8x8 digits) stop pooling instead of vanishing.
    """

    def __init__(self, input_shape: Sequence[int], channels: Sequence[int], kernel_size: int,
                 n_outputs: int, activation: str, batch_norm: bool, pooling: str,
                 im2col: bool, *, init: HostInit):
        *spatial, in_channels = input_shape
        kernel = (kernel_size,) * len(spatial)
        sizes = [in_channels, *channels]
        self.convs = nnx.List([Conv(a, b, kernel, im2col, use_bias=not batch_norm, init=init)
                               for a, b in pairwise(sizes)])
        self.norms = nnx.List([BatchNorm(b) for b in channels]) if batch_norm else None
        self.pools = []
        for _ in channels:
            do_pool = pooling != "none" and min(spatial) >= 4
            self.pools.append(do_pool)
            spatial = [s // 2 for s in spatial] if do_pool else spatial
        self.pools = tuple(self.pools)
        self.output = init.linear(math.prod(spatial) * channels[-1], n_outputs)
        self.activation, self.pooling = activation, pooling

    def __call__(self, x, train: bool, rate, seed):
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.norms is not None:
                x = self.norms[i](x, use_running_average=not train)
            x = ACTIVATIONS[self.activation](x)
            if self.pools[i]:
                x = pool(x, self.pooling)
        x = dropout(x.reshape(x.shape[0], -1), rate, seed, train)
        return self.output(x)


class Recurrent(nnx.Module):
    """A GRU or LSTM cell scanned over the sequence axis from a zero state."""

    def __init__(self, n_inputs: int, hidden: int, cell: str, reverse: bool, *,
                 init: HostInit):
        make_cell = {"gru": nnx.GRUCell, "lstm": nnx.OptimizedLSTMCell}[cell]
        self.cell = make_cell(n_inputs, hidden, kernel_init=init.lecun_normal,
                              recurrent_kernel_init=init.orthogonal, bias_init=init.zeros,
                              rngs=init.rngs)
        self.hidden, self.lstm, self.reverse = hidden, cell == "lstm", reverse

    def __call__(self, x):  # (batch, length, channels) -> (batch, length, hidden)
        zeros = jnp.zeros((x.shape[0], self.hidden), x.dtype)
        carry = (zeros, zeros) if self.lstm else zeros
        steps = jnp.swapaxes(x, 0, 1)
        _, outputs = jax.lax.scan(lambda c, x_t: self.cell(c, x_t), carry, steps,
                                  reverse=self.reverse)
        return jnp.swapaxes(outputs, 0, 1)


class RNN(nnx.Module):
    """Stacked GRU or LSTM layers, optionally bidirectional, then a dense output on the
    last layer's summary: its final step forward (and its first step backward)."""

    def __init__(self, n_channels: int, hidden: int, depth: int, cell: str,
                 bidirectional: bool, n_outputs: int, *, init: HostInit):
        directions = (False, True) if bidirectional else (False,)
        layers, size = [], n_channels
        for _ in range(depth):
            layers.append(nnx.List([Recurrent(size, hidden, cell, reverse, init=init)
                                    for reverse in directions]))
            size = hidden * len(directions)
        self.layers = nnx.List(layers)
        self.output = init.linear(size, n_outputs)
        self.hidden = hidden

    def __call__(self, x, train: bool, rate, seed):
        for i, directions in enumerate(self.layers):
            x = dropout(jnp.concatenate([d(x) for d in directions], axis=-1), rate,
                        mix(seed, i), train)
        summary = x[:, -1, :self.hidden]
        if x.shape[-1] > self.hidden:  # the backward direction has read everything at t=0
            summary = jnp.concatenate([summary, x[:, 0, self.hidden:]], axis=-1)
        return self.output(summary)


class LayerNorm(nnx.Module):
    def __init__(self, size: int, *, init: HostInit):
        self.scale = nnx.Param(init.ones(None, (size,)))
        self.bias = nnx.Param(init.zeros(None, (size,)))

    def __call__(self, x):
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(variance + 1e-6) * self.scale[...] + self.bias[...]


class EncoderBlock(nnx.Module):
    """A pre-norm Transformer encoder block: self-attention over the unpadded tokens,
    then a two-layer feed-forward network, each added back to its input."""

    def __init__(self, size: int, heads: int, *, init: HostInit):
        self.norms = nnx.List([LayerNorm(size, init=init) for _ in range(2)])
        self.query, self.key, self.value, self.out = (init.linear(size, size)
                                                      for _ in range(4))
        self.up, self.down = init.linear(size, 2 * size), init.linear(2 * size, size)
        self.heads = heads

    def __call__(self, x, mask, train: bool, rate, seed):
        batch, length, size = x.shape
        h = self.norms[0](x)

        def split(t):
            return t.reshape(batch, length, self.heads, -1).transpose(0, 2, 1, 3)

        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size // self.heads)
        scores = jnp.where(mask[:, None, None, :], scores, -1e9)
        attended = (jax.nn.softmax(scores, -1) @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        x = x + dropout(self.out(attended), rate, mix(seed, 1), train)
        h = self.down(jax.nn.gelu(self.up(self.norms[1](x))))
        return x + dropout(h, rate, mix(seed, 2), train)


class Transformer(nnx.Module):
    """A small Transformer encoder on embedded tokens: learned positions, `depth` blocks,
    the mean of the unpadded tokens, a dense output."""

    def __init__(self, length: int, size: int, depth: int, heads: int, n_outputs: int, *,
                 init: HostInit):
        self.positions = nnx.Param(init._truncated_normal((length, size), 0.02))
        self.blocks = nnx.List([EncoderBlock(size, heads, init=init) for _ in range(depth)])
        self.norm = LayerNorm(size, init=init)
        self.output = init.linear(size, n_outputs)

    def __call__(self, x, mask, train: bool, rate, seed):
        x = x + self.positions[...][:x.shape[1]]
        for i, block in enumerate(self.blocks):
            x = block(x, mask, train, rate, mix(seed, 10 + i))
        weights = mask[..., None].astype(x.dtype)
        pooled = (self.norm(x) * weights).sum(1) / jnp.maximum(weights.sum(1), 1.0)
        return self.output(pooled)


class TextNetwork(nnx.Module):
    """Token ids (0 pads) into a learned embedding, then `body`: a CNN or RNN on the
    (length, embedding) sequence, or a `Transformer`, which also gets the padding mask."""

    def __init__(self, vocabulary: int, embedding_dim: int, body: nnx.Module, *,
                 init: HostInit):
        self.embedding = nnx.Param(init._truncated_normal((vocabulary, embedding_dim), 1.0))
        self.body = body

    def __call__(self, x, train: bool, rate, seed):
        ids = x.astype(jnp.int32)
        embedded = self.embedding[...][ids]
        if isinstance(self.body, Transformer):
            return self.body(embedded, ids != 0, train, rate, seed)
        return self.body(embedded, train, rate, seed)


def count_parameters(model: nnx.Module) -> int:
    return sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
