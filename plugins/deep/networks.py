"""The networks of the deep families, as Flax NNX modules.

Every module is called as ``model(x, train, dropout, key)``. The dropout rate is an
argument (a traced scalar under ``jax.jit``), not a module attribute, so trials that differ
only in dropout share one compiled training step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import jax
import jax.numpy as jnp
from flax import nnx

ACTIVATIONS = {"relu": jax.nn.relu, "gelu": jax.nn.gelu, "tanh": jnp.tanh,
               "silu": jax.nn.silu}


def dropout(x: jax.Array, rate: jax.Array, key: jax.Array, train: bool) -> jax.Array:
    """Inverted dropout with a traced rate; identity when not training."""
    if not train:
        return x
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, x.shape)
    return jnp.where(mask, x / keep, 0.0)


def layer_widths(width: int, depth: int, factor: float, *, low: int = 4,
                 high: int = 1024) -> list[int]:
    """Widths of `depth` layers, the first `width`, each next one `factor` times the last."""
    return [int(min(high, max(low, round(width * factor ** i)))) for i in range(depth)]


class MLP(nnx.Module):
    """Dense layers on the flattened input: [dense, activation, dropout] x depth, output."""

    def __init__(self, n_inputs: int, widths: Sequence[int], n_outputs: int,
                 activation: str, *, rngs: nnx.Rngs):
        sizes = [n_inputs, *widths]
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in pairwise(sizes)])
        self.output = nnx.Linear(sizes[-1], n_outputs, rngs=rngs)
        self.activation = activation

    def __call__(self, x, train: bool, rate, key):
        x = x.reshape(x.shape[0], -1)
        keys = jax.random.split(key, len(self.hidden))
        for layer, layer_key in zip(self.hidden, keys, strict=True):
            x = dropout(ACTIVATIONS[self.activation](layer(x)), rate, layer_key, train)
        return self.output(x)


class Conv(nnx.Module):
    """A 'same'-padded convolution over 1 or 2 spatial axes (channels last).

    With ``im2col`` the convolution is written as shifted slices concatenated along the
    channels, then one matrix product: on XLA's CPU backend its gradient is faster than
    ``lax.conv``'s (and far faster inside loops); on accelerators ``lax.conv`` wins.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int],
                 im2col: bool, use_bias: bool, *, rngs: nnx.Rngs):
        init = jax.nn.initializers.he_normal()  # fan-in: kernel size x input channels
        self.kernel = nnx.Param(init(rngs.params(), (*kernel, in_channels, out_channels)))
        # Before batch norm a bias has no effect, and its float-noise gradient becomes
        # full-size steps under Adam's normalisation: leave it out there.
        self.bias = nnx.Param(jnp.zeros((out_channels,))) if use_bias else None
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
        pads = [(k // 2, k - 1 - k // 2) for k in spatial]
        padded = jnp.pad(x, [(0, 0), *pads, (0, 0)])
        sizes = x.shape[1:-1]
        if len(spatial) == 1:
            patches = [padded[:, i:i + sizes[0]] for i in range(spatial[0])]
        else:
            patches = [padded[:, i:i + sizes[0], j:j + sizes[1]]
                       for i in range(spatial[0]) for j in range(spatial[1])]
        columns = jnp.concatenate(patches, axis=-1)
        return self._add_bias(columns @ kernel.reshape(-1, kernel.shape[-1]))


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
                 im2col: bool, *, rngs: nnx.Rngs):
        *spatial, in_channels = input_shape
        kernel = (kernel_size,) * len(spatial)
        sizes = [in_channels, *channels]
        self.convs = nnx.List([Conv(a, b, kernel, im2col, use_bias=not batch_norm, rngs=rngs)
                               for a, b in pairwise(sizes)])
        self.norms = nnx.List([nnx.BatchNorm(b, rngs=rngs) for b in channels]) \
            if batch_norm else None
        self.pools = []
        for _ in channels:
            do_pool = pooling != "none" and min(spatial) >= 4
            self.pools.append(do_pool)
            spatial = [s // 2 for s in spatial] if do_pool else spatial
        self.pools = tuple(self.pools)
        self.output = nnx.Linear(math.prod(spatial) * channels[-1], n_outputs, rngs=rngs)
        self.activation, self.pooling = activation, pooling

    def __call__(self, x, train: bool, rate, key):
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.norms is not None:
                x = self.norms[i](x, use_running_average=not train)
            x = ACTIVATIONS[self.activation](x)
            if self.pools[i]:
                x = pool(x, self.pooling)
        x = dropout(x.reshape(x.shape[0], -1), rate, key, train)
        return self.output(x)


class Recurrent(nnx.Module):
    """A GRU or LSTM cell scanned over the sequence axis from a zero state."""

    def __init__(self, n_inputs: int, hidden: int, cell: str, reverse: bool, *,
                 rngs: nnx.Rngs):
        make_cell = {"gru": nnx.GRUCell, "lstm": nnx.OptimizedLSTMCell}[cell]
        self.cell = make_cell(n_inputs, hidden, rngs=rngs)
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
                 bidirectional: bool, n_outputs: int, *, rngs: nnx.Rngs):
        directions = (False, True) if bidirectional else (False,)
        layers, size = [], n_channels
        for _ in range(depth):
            layers.append(nnx.List([Recurrent(size, hidden, cell, reverse, rngs=rngs)
                                    for reverse in directions]))
            size = hidden * len(directions)
        self.layers = nnx.List(layers)
        self.output = nnx.Linear(size, n_outputs, rngs=rngs)
        self.hidden = hidden

    def __call__(self, x, train: bool, rate, key):
        keys = jax.random.split(key, len(self.layers))
        for directions, layer_key in zip(self.layers, keys, strict=True):
            x = dropout(jnp.concatenate([d(x) for d in directions], axis=-1), rate,
                        layer_key, train)
        summary = x[:, -1, :self.hidden]
        if x.shape[-1] > self.hidden:  # the backward direction has read everything at t=0
            summary = jnp.concatenate([summary, x[:, 0, self.hidden:]], axis=-1)
        return self.output(summary)


def count_parameters(model: nnx.Module) -> int:
    return sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
