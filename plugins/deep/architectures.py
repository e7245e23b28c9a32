"""The networks a `FlaxEstimator` trains, each as a small class holding only its own
settings: `MLP`, `CNN`, `RNN`, and `Tokens` (texts to token ids into a learned embedding)
around a `CNN`, `RNN` or `Transformer` body.

They are scikit-learn parameter objects (``get_params``, ``set_params``, ``clone``), so a
`FlaxEstimator`'s ``network__depth`` reads and sets one as any nested estimator's
parameter does; the estimator owns training (optimiser, schedule, epochs, dropout, batch
size, devices) and the architecture owns the layers. ``build`` makes the Flax module
(`automl_plugins.deep.networks`) for inputs of a shape; ``describe`` and `from_description`
turn one into plain data and back for a saved model (a closed table of names: a file
never names code to run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from automl_plugins.deep import networks
from flax import nnx
from sklearn.base import BaseEstimator


@dataclass(frozen=True)
class InputsSeen:
    """What a fit learned about its inputs that sizes the network: the category counts
    of a table's coded columns (their embeddings), whether the inputs are a table, and a
    tokenizer's vocabulary size."""

    category_counts: tuple[int, ...] = ()
    table: bool = False
    vocabulary: int = 0


class Architecture(BaseEstimator):
    """A network's settings; subclasses set `name` and write ``build``."""

    name: ClassVar[str]
    takes_tables: ClassVar[bool] = False
    """Whether it reads a table's encoded rows (category codes first)."""
    fast_compile: ClassVar[bool] = True
    """Whether its programs are compiled for compile time over run time: convolutions,
    recurrences and attention are large programs; an MLP's is small and runs many epochs."""

    def build(self, input_shape: tuple[int, ...], n_outputs: int, platform: str,
              init: networks.HostInit, seen: InputsSeen) -> nnx.Module:
        raise NotImplementedError

    def describe(self) -> dict:
        """Its name and settings as plain data (a nested architecture described in turn)."""
        params = {name: value.describe() if isinstance(value, Architecture) else value
                  for name, value in self.get_params(deep=False).items()}
        return {"architecture": self.name, "params": params}


class MLP(Architecture):
    """Dense layers on the flattened input; on a table, each category column's learned
    embedding and, with ``numeric_embedding="periodic"``, each number's periodic
    embedding first (numbers mapped by ``numeric_transform``: ``"impute"`` or
    ``"quantile"``)."""

    name = "mlp"
    takes_tables = True
    fast_compile = False

    def __init__(self, depth: int = 2, width: int = 128, width_factor: float = 1.0,
                 activation: str = "relu", embedding_dim: int = 8,
                 numeric_transform: str = "impute", numeric_embedding: str = "none"):
        self.depth = depth
        self.width = width
        self.width_factor = width_factor
        self.activation = activation
        self.embedding_dim = embedding_dim
        self.numeric_transform = numeric_transform
        self.numeric_embedding = numeric_embedding

    def build(self, input_shape, n_outputs, platform, init, seen):
        return networks.MLP(int(np.prod(input_shape)),
                            networks.layer_widths(self.width, self.depth, self.width_factor),
                            n_outputs, self.activation, init=init,
                            category_counts=seen.category_counts,
                            embedding_dim=self.embedding_dim,
                            periodic=self.numeric_embedding == "periodic" and seen.table)


class CNN(Architecture):
    """Convolutions ('same' padding) with optional batch normalisation and pooling: 2-D on
    images (height, width, channels), 1-D on sequences (length, channels)."""

    name = "cnn"

    def __init__(self, depth: int = 2, width: int = 128, width_factor: float = 1.0,
                 kernel_size: int = 3, activation: str = "relu", batch_norm: bool = False,
                 pooling: str = "max"):
        self.depth = depth
        self.width = width
        self.width_factor = width_factor
        self.kernel_size = kernel_size
        self.activation = activation
        self.batch_norm = batch_norm
        self.pooling = pooling

    def build(self, input_shape, n_outputs, platform, init, seen):
        if len(input_shape) not in (2, 3):
            raise ValueError("the CNN takes images (height, width, channels) or "
                             f"sequences (length, channels), not shape {input_shape}")
        return networks.CNN(input_shape,
                            networks.layer_widths(self.width, self.depth, self.width_factor),
                            self.kernel_size, n_outputs, self.activation, self.batch_norm,
                            self.pooling, im2col=platform == "cpu", init=init)


class RNN(Architecture):
    """Stacked GRU or LSTM layers, optionally bidirectional, on sequences (length,
    channels)."""

    name = "rnn"

    def __init__(self, depth: int = 2, width: int = 128, cell: str = "gru",
                 bidirectional: bool = False):
        self.depth = depth
        self.width = width
        self.cell = cell
        self.bidirectional = bidirectional

    def build(self, input_shape, n_outputs, platform, init, seen):
        if len(input_shape) != 2:
            raise ValueError("the RNN takes sequences (length, channels), not shape "
                             f"{input_shape}")
        return networks.RNN(input_shape[-1], self.width, self.depth, self.cell,
                            self.bidirectional, n_outputs, init=init)


class Transformer(Architecture):
    """Pre-norm encoder blocks with learned positions, mean-pooled, on (length, size)
    embeddings: the body of a `Tokens` network."""

    name = "transformer"

    def __init__(self, depth: int = 2, heads: int = 4):
        self.depth = depth
        self.heads = heads

    def build(self, input_shape, n_outputs, platform, init, seen):
        if len(input_shape) != 2:
            raise ValueError("the Transformer takes (length, size) embeddings, not shape "
                             f"{input_shape}")
        length, size = input_shape
        return networks.Transformer(length, size, self.depth, self.heads, n_outputs,
                                    init=init)


class Tokens(Architecture):
    """Texts as token ids (a BPE tokenizer of ``vocab_size`` fitted on the training rows,
    ``max_length`` tokens per text; 0 pads) into a learned embedding of ``embedding_dim``,
    then ``body`` (a `CNN`, `RNN` or `Transformer`) on the (length, embedding_dim)
    sequence."""

    name = "tokens"

    def __init__(self, body: Architecture, vocab_size: int = 8000, max_length: int = 64,
                 embedding_dim: int = 64):
        self.body = body
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.embedding_dim = embedding_dim

    def build(self, input_shape, n_outputs, platform, init, seen):
        body = self.body.build((input_shape[0], self.embedding_dim), n_outputs, platform,
                               init, InputsSeen())
        return networks.TextNetwork(seen.vocabulary, self.embedding_dim, body, init=init)


ARCHITECTURES: dict[str, type[Architecture]] = {
    cls.name: cls for cls in (MLP, CNN, RNN, Transformer, Tokens)}


def from_description(description) -> Architecture:
    """The architecture `Architecture.describe` wrote; ValueError for any other data
    (a name outside `ARCHITECTURES`, a setting its class does not have)."""
    if not isinstance(description, dict) or set(description) != {"architecture", "params"}:
        raise ValueError(f"a network is described as {{architecture, params}}, not "
                         f"{description!r:.80}")
    cls = ARCHITECTURES.get(description["architecture"])
    params = description["params"]
    if cls is None or not isinstance(params, dict):
        raise ValueError(f"unknown network {description['architecture']!r:.40}: expected "
                         f"one of {', '.join(ARCHITECTURES)}")
    unknown = set(params) - set(cls._get_param_names())
    if unknown:
        raise ValueError(f"the {cls.name} network has no setting {sorted(unknown)[0]!r:.40}")
    return cls(**{name: from_description(value) if isinstance(value, dict) else value
                  for name, value in params.items()})


def split_params(params: dict, architecture: type[Architecture]) -> tuple[dict, dict]:
    """`params` (a flat configuration, as a search space suggests) split into the
    architecture's own settings and the rest (the trainer's)."""
    own = set(architecture._get_param_names())
    return ({k: v for k, v in params.items() if k in own},
            {k: v for k, v in params.items() if k not in own})
