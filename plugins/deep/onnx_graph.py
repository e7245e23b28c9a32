"""A fitted MLP, CNN, RNN or text Transformer as an ONNX graph written from its weights: the inputs
standardised as in training; for the MLP the table's input layer (a category's embedding
row, numbers as they are or their periodic embedding) and the dense layers; for the CNN
the convolutions ('same' padding), batch normalisation with its running statistics, the
activation and the pooling, in ONNX's channels-first layout; for the RNN an ONNX GRU or
LSTM per layer (both directions in one node); then the softmax (or the target's scale,
for regression). A text network's graph takes its tokenizer's ids and starts with its
embedding (the tokenizer stays outside); the text Transformer's blocks are written with
ONNX's LayerNormalization, its attention masked where the ids pad."""

from __future__ import annotations

import math

import numpy as np

from automl.analyses.export import ENCODED, TOKEN_IDS, GraphBuilder, NotExportable


def mlp_graph(estimator, n_features: int):
    """The network of a fitted `FlaxEstimator` on `ENCODED` rows of `n_features` numbers,
    or, for a `Tokens` network, on `TOKEN_IDS` (n, `n_features`): its tokenizer stays
    outside the graph."""
    from automl_plugins.deep.architectures import CNN, MLP, RNN, Tokens, Transformer
    from flax import nnx
    from onnx import TensorProto, helper
    network = estimator.architecture
    tokens = isinstance(network, Tokens)
    layers = network.body if tokens else network
    if not isinstance(layers, (MLP, CNN, RNN)) and not (
            tokens and isinstance(layers, Transformer)):
        raise NotExportable(layers.name, f"the {layers.name.title()} network is not written"
                            " as ONNX (the MLP, CNN, RNN and the text Transformer are)")
    weights = nnx.to_pure_dict(estimator.params_)
    stats = nnx.to_pure_dict(estimator.rest_)
    builder = GraphBuilder()
    if tokens:  # token ids into the learned embedding, then the body
        inputs = [helper.make_tensor_value_info(TOKEN_IDS, TensorProto.INT64,
                                                [None, n_features])]
        embedding = np.asarray(weights["embedding"], np.float32)
        x = builder.node("Gather", [_constant(builder, embedding), TOKEN_IDS], axis=0)
        if isinstance(layers, Transformer):  # on the (batch, length, size) embeddings
            x = _transformer(builder, x, weights["body"], layers.heads)
        else:
            x = builder.node("Flatten", [x], axis=1)
        weights, stats = weights["body"], stats.get("body", {})
        shape = (n_features, embedding.shape[1])
    else:
        inputs = [helper.make_tensor_value_info(ENCODED, TensorProto.FLOAT,
                                                [None, n_features])]
        mean = np.broadcast_to(estimator.input_mean_, estimator.input_shape_).reshape(1, -1)
        scale = np.broadcast_to(estimator.input_scale_, estimator.input_shape_).reshape(1, -1)
        x = builder.node("Div", [builder.node("Sub", [ENCODED, _constant(builder, mean)]),
                                 _constant(builder, scale)])
        shape = tuple(estimator.input_shape_)
    if isinstance(layers, CNN):
        x = _convolutions(builder, x, layers, weights, stats, shape)
    elif isinstance(layers, RNN):
        x = _recurrent(builder, x, layers, weights, shape)
    elif isinstance(layers, MLP):
        if "table" in weights:
            x = _table_inputs(builder, x, weights["table"], len(estimator.category_counts_))
        for index in sorted(weights["hidden"], key=int):
            x = _activation(builder, _dense(builder, x, weights["hidden"][index]),
                            layers.activation)
    # the Transformer's body ends in the pooled tokens, before the output layer
    x = _dense(builder, x, weights["output"])
    if estimator._regression:
        x = builder.node("Add", [builder.node("Mul", [x, _constant(builder, np.float32(
            estimator.target_scale_))]), _constant(builder, np.float32(
                estimator.target_mean_))])
    else:
        x = builder.node("Softmax", [x], axis=1)
    return builder.model("automl_network", inputs, x)


def _constant(builder: GraphBuilder, value) -> str:
    return builder.constant(np.asarray(value, dtype=np.float32))


def _dense(builder: GraphBuilder, x: str, layer: dict) -> str:
    product = builder.node("MatMul", [x, _constant(builder, layer["kernel"])])
    return builder.node("Add", [product, _constant(builder, layer["bias"])])


def _activation(builder: GraphBuilder, x: str, name: str) -> str:
    if name == "relu":
        return builder.node("Relu", [x])
    if name == "tanh":
        return builder.node("Tanh", [x])
    if name == "silu":
        return builder.node("Mul", [x, builder.node("Sigmoid", [x])])
    if name == "gelu":  # jax.nn.gelu's tanh approximation
        cube = builder.node("Mul", [x, builder.node("Mul", [x, x])])
        inner = builder.node("Mul", [_constant(builder, math.sqrt(2 / math.pi)), builder.node(
            "Add", [x, builder.node("Mul", [_constant(builder, 0.044715), cube])])])
        half = builder.node("Mul", [_constant(builder, 0.5), x])
        return builder.node("Mul", [half, builder.node("Add", [
            _constant(builder, 1.0), builder.node("Tanh", [inner])])])
    raise NotExportable("activation", f"{name!r} is not written as ONNX")


def _table_inputs(builder: GraphBuilder, x: str, table: dict, n_codes: int) -> str:
    """`TableInputs`: the numbers (or their periodic embeddings), then each categorical
    column's embedding row (code + 1: row 0 is a missing or unseen category)."""
    numbers = builder.node("Slice", [x, builder.constant(np.array([n_codes], np.int64)),
                                     builder.constant(np.array([2**62], np.int64)),
                                     builder.constant(np.array([1], np.int64))])
    parts = [_periodic(builder, numbers, table) if "frequencies" in table else numbers]
    for column in sorted(table.get("embeddings", {}), key=int):
        code = builder.node("Gather", [x, builder.constant(np.array(int(column), np.int64))],
                            axis=1)
        index = builder.node("Cast", [builder.node("Add", [code, _constant(builder, 1.0)])],
                             to=7)  # int64
        parts.append(builder.node("Gather", [_constant(builder, table["embeddings"][column]),
                                             index], axis=0))
    return builder.node("Concat", parts, axis=1) if len(parts) > 1 else parts[0]


def _periodic(builder: GraphBuilder, numbers: str, table: dict) -> str:
    """[sin, cos](2 pi c x) per number, then a per-column dense layer with ReLU."""
    frequencies = np.asarray(table["frequencies"], np.float32)  # (n, k)
    angles = builder.node("Mul", [builder.node("Unsqueeze", [numbers, builder.constant(
        np.array([2], np.int64))]), _constant(builder, 2 * np.pi * frequencies)])  # (b, n, k)
    waves = builder.node("Concat", [builder.node("Sin", [angles]),
                                    builder.node("Cos", [angles])], axis=2)  # (b, n, 2k)
    by_column = builder.node("Transpose", [waves], perm=[1, 0, 2])  # (n, b, 2k)
    embedded = builder.node("MatMul", [by_column, _constant(builder, table["numeric_kernel"])])
    embedded = builder.node("Transpose", [embedded], perm=[1, 0, 2])  # (b, n, d)
    activated = builder.node("Relu", [builder.node("Add", [
        embedded, _constant(builder, table["numeric_bias"])])])
    return builder.node("Flatten", [activated], axis=1)


def _convolutions(builder: GraphBuilder, x: str, cnn, weights: dict, stats: dict,
                  shape: tuple) -> str:
    """`CNN` up to its dense output: channels-last rows in, flattened channels-last out."""
    spatial = len(shape) - 1
    x = builder.node("Reshape", [x, builder.constant(np.array([-1, *shape], np.int64))])
    x = builder.node("Transpose", [x], perm=[0, spatial + 1, *range(1, spatial + 1)])
    norms = weights.get("norms")
    pools = _pools(cnn, shape)
    for index in sorted(weights["convs"], key=int):
        conv = weights["convs"][index]
        kernel = np.asarray(conv["kernel"], np.float32)  # (*k, in, out)
        sizes = kernel.shape[:spatial]
        onnx_kernel = np.transpose(kernel, (spatial + 1, spatial, *range(spatial)))
        inputs = [x, _constant(builder, onnx_kernel)]
        if conv.get("bias") is not None:
            inputs.append(_constant(builder, conv["bias"]))
        x = builder.node("Conv", inputs, kernel_shape=list(sizes),
                         pads=[k // 2 for k in sizes] + [k - 1 - k // 2 for k in sizes])
        if norms is not None:
            x = _batch_norm(builder, x, norms[index], stats["norms"][index], spatial)
        x = _activation(builder, x, cnn.activation)
        if pools[int(index)]:
            op = "MaxPool" if cnn.pooling == "max" else "AveragePool"
            x = builder.node(op, [x], kernel_shape=[2] * spatial, strides=[2] * spatial)
    x = builder.node("Transpose", [x], perm=[0, *range(2, spatial + 2), 1])
    return builder.node("Flatten", [x], axis=1)


def _transformer(builder: GraphBuilder, x: str, weights: dict, heads: int) -> str:
    """`Transformer` up to its dense output, on the embedded tokens: learned positions,
    each pre-norm block (self-attention over the tokens that are not padding, then the
    feed-forward network, each added back), the final norm, and the mean of the tokens
    that are not padding."""
    positions = np.asarray(weights["positions"], np.float32)
    x = builder.node("Add", [x, _constant(builder, positions[None])])
    keep = builder.node("Not", [builder.node("Equal", [TOKEN_IDS, builder.constant(
        np.array(0, np.int64))])])  # (batch, length): True for a token
    attend = builder.node("Unsqueeze", [keep, builder.constant(np.array([1, 2], np.int64))])
    size = positions.shape[1]
    for index in sorted(weights["blocks"], key=int):
        block = weights["blocks"][index]
        first, second = (block["norms"][key] for key in sorted(block["norms"], key=int))
        h = _layer_norm(builder, x, first)
        q, k, v = (_split_heads(builder, _dense(builder, h, block[name]), heads)
                   for name in ("query", "key", "value"))  # (batch, heads, length, d)
        scores = builder.node("Div", [
            builder.node("MatMul", [q, builder.node("Transpose", [k], perm=[0, 1, 3, 2])]),
            _constant(builder, math.sqrt(size // heads))])
        scores = builder.node("Where", [attend, scores, _constant(builder, -1e9)])
        attended = builder.node("MatMul", [builder.node("Softmax", [scores], axis=-1), v])
        attended = builder.node("Reshape", [
            builder.node("Transpose", [attended], perm=[0, 2, 1, 3]),
            builder.constant(np.array([0, 0, -1], np.int64))])
        x = builder.node("Add", [x, _dense(builder, attended, block["out"])])
        h = _layer_norm(builder, x, second)
        h = _dense(builder, _activation(builder, _dense(builder, h, block["up"]), "gelu"),
                   block["down"])
        x = builder.node("Add", [x, h])
    tokens = builder.node("Unsqueeze", [builder.node("Cast", [keep], to=1), builder.constant(
        np.array([2], np.int64))])  # (batch, length, 1) float
    total = builder.node("ReduceSum", [builder.node("Mul", [
        _layer_norm(builder, x, weights["norm"]), tokens]),
        builder.constant(np.array([1], np.int64))], keepdims=0)
    count = builder.node("Max", [builder.node("ReduceSum", [tokens, builder.constant(
        np.array([1], np.int64))], keepdims=0), _constant(builder, 1.0)])
    return builder.node("Div", [total, count])


def _split_heads(builder: GraphBuilder, x: str, heads: int) -> str:
    shaped = builder.node("Reshape", [x, builder.constant(np.array([0, 0, heads, -1],
                                                                   np.int64))])
    return builder.node("Transpose", [shaped], perm=[0, 2, 1, 3])


def _layer_norm(builder: GraphBuilder, x: str, params: dict, epsilon: float = 1e-6) -> str:
    """`LayerNorm` over the last axis (ONNX's LayerNormalization, opset 17)."""
    return builder.node("LayerNormalization", [
        x, _constant(builder, params["scale"]), _constant(builder, params["bias"])],
        axis=-1, epsilon=epsilon)


GATES = {"gru": ([1, 0, 2], "GRU"), "lstm": ([0, 3, 1, 2], "LSTM")}
"""Flax's gate order (GRU: r, z, n; LSTM: i, f, g, o) to ONNX's (z, r, h; i, o, f, c),
and the operator."""


def _recurrent(builder: GraphBuilder, x: str, rnn, weights: dict,
               shape: tuple) -> str:
    """`RNN` up to its dense output: each layer an ONNX GRU or LSTM (both directions in
    one node), the summary its last step forward and its first step backward."""
    length, channels = shape
    order, op = GATES[rnn.cell]
    x = builder.node("Reshape", [x, builder.constant(np.array([-1, length, channels],
                                                              np.int64))])
    x = builder.node("Transpose", [x], perm=[1, 0, 2])  # (length, batch, channels)
    hidden = rnn.width
    for index in sorted(weights["layers"], key=int):
        directions = [weights["layers"][index][d]["cell"]
                      for d in sorted(weights["layers"][index], key=int)]
        W, R, B = zip(*(_cell_weights(cell, order, hidden) for cell in directions),
                      strict=True)
        outputs = builder.node(op, [x, _constant(builder, np.stack(W)),
                                    _constant(builder, np.stack(R)),
                                    _constant(builder, np.stack(B))],
                               hidden_size=hidden, **(
                                   {"linear_before_reset": 1} if op == "GRU" else {}),
                               direction="bidirectional" if len(directions) == 2
                               else "forward")  # (length, directions, batch, hidden)
        x = builder.node("Transpose", [outputs], perm=[0, 2, 1, 3])
        x = builder.node("Reshape", [x, builder.constant(np.array([0, 0, -1], np.int64))])
    last = builder.node("Gather", [x, builder.constant(np.array(length - 1, np.int64))],
                        axis=0)  # (batch, directions x hidden)
    summary = _columns(builder, last, 0, hidden)
    if len(directions) == 2:  # the backward direction has read everything at step 0
        first = builder.node("Gather", [x, builder.constant(np.array(0, np.int64))], axis=0)
        summary = builder.node("Concat", [summary, _columns(builder, first, hidden,
                                                            2 * hidden)], axis=1)
    return summary


def _cell_weights(cell: dict, order: list[int], hidden: int):
    """ONNX's W (gates x hidden, inputs), R (gates x hidden, hidden) and B (W's bias,
    then R's) of a Flax cell, its gates reordered."""
    def gates(matrix):
        parts = np.split(np.asarray(matrix, np.float32), len(order), axis=-1)
        return np.concatenate([parts[i] for i in order], axis=-1)
    width = len(order) * hidden
    zeros = np.zeros(width, np.float32)
    W = gates(cell["dense_i"]["kernel"]).T
    R = gates(cell["dense_h"]["kernel"]).T
    input_bias = gates(cell["dense_i"]["bias"]) if "bias" in cell["dense_i"] else zeros
    hidden_bias = gates(cell["dense_h"]["bias"]) if "bias" in cell["dense_h"] else zeros
    return W, R, np.concatenate([input_bias, hidden_bias])


def _columns(builder: GraphBuilder, x: str, start: int, end: int) -> str:
    return builder.node("Slice", [x, builder.constant(np.array([start], np.int64)),
                                  builder.constant(np.array([end], np.int64)),
                                  builder.constant(np.array([1], np.int64))])


def _pools(cnn, shape: tuple) -> list[bool]:
    """After which layers the CNN pools (as `CNN` decides: while every spatial axis is
    at least 4 long)."""
    spatial, found = list(shape[:-1]), []
    for _ in range(cnn.depth):
        do_pool = cnn.pooling != "none" and min(spatial) >= 4
        found.append(do_pool)
        spatial = [s // 2 for s in spatial] if do_pool else spatial
    return found


def _batch_norm(builder: GraphBuilder, x: str, params: dict, stats: dict,
                spatial: int) -> str:
    """Batch normalisation with the running statistics, per channel (axis 1)."""
    epsilon = 1e-5
    shape = (1, -1, *([1] * spatial))
    factor = (np.asarray(params["scale"]) / np.sqrt(np.asarray(stats["var"]) + epsilon))
    shift = np.asarray(params["bias"]) - np.asarray(stats["mean"]) * factor
    return builder.node("Add", [builder.node("Mul", [x, _constant(
        builder, factor.reshape(shape))]), _constant(builder, shift.reshape(shape))])
