"""The pretrained MiniLM encoder (`minilm.encode`) as an ONNX graph written from its
weights: on `automl.analyses.export.TOKEN_IDS` (its WordPiece tokenizer stays outside the graph,
`MiniLMTokens`), the word, position and first token-type embeddings, their norm, each
post-norm BERT layer (self-attention over the tokens that are not padding, the exact
GELU feed-forward network) and the mean of the tokens that are not padding; then the
sentence embedding's unit length (frozen) or the fine-tuned head and its softmax."""

from __future__ import annotations

import math

import numpy as np
from automl_plugins.text.minilm import HIDDEN, N_HEADS, N_LAYERS, load_tokenizer, tokenize
from automl_plugins.text_columns import texts_of

from automl.analyses.export import ENCODED, TOKEN_IDS, GraphBuilder


class MiniLMTokens:
    """The MiniLM tokenizer outside the graph (`automl.analyses.export.is_tokenizer`): texts to
    int64 ids, padded with 0 to the batch's length bucket, at most `max_length`."""

    def __init__(self, max_length: int):
        self.max_length = max_length

    def transform(self, X) -> np.ndarray:
        return tokenize(texts_of(X), self.max_length)[0].astype(np.int64)

    def to_str(self) -> str:
        """The tokenizer's Hugging Face JSON."""
        return load_tokenizer().to_str()


def sentence_graph(weights):
    """Texts' token ids to their unit-length sentence embeddings, as `ENCODED` rows of
    `HIDDEN` numbers (the frozen encoder, before the classifier that reads them)."""
    from onnx import helper
    builder = GraphBuilder()
    pooled = _pooled(builder, weights)
    norm = builder.node("Max", [builder.node("ReduceL2", [pooled], axes=[-1], keepdims=1),
                                _constant(builder, 1e-12)])
    builder.nodes.append(helper.make_node("Div", [pooled, norm], [ENCODED]))
    return builder.model("automl_minilm_embeddings", [_ids()], ENCODED, HIDDEN)


def classifier_graph(weights, head):
    """Texts' token ids to the fine-tuned classifier's class probabilities."""
    builder = GraphBuilder()
    logits = builder.node("Add", [builder.node("MatMul", [
        _pooled(builder, weights), _constant(builder, head["kernel"])]),
        _constant(builder, head["bias"])])
    return builder.model("automl_minilm", [_ids()], builder.node("Softmax", [logits],
                                                                  axis=1))


def _ids():
    from onnx import TensorProto, helper
    return helper.make_tensor_value_info(TOKEN_IDS, TensorProto.INT64, [None, None])


def _constant(builder: GraphBuilder, value) -> str:
    return builder.constant(np.asarray(value, dtype=np.float32))


def _pooled(builder: GraphBuilder, weights) -> str:
    """`minilm.encode` then `minilm.mean_pool`: (batch, `HIDDEN`)."""
    def w(name):
        return _constant(builder, weights[name])

    length = builder.node("Gather", [builder.node("Shape", [TOKEN_IDS]), builder.constant(
        np.array(1, np.int64))], axis=0)
    positions = builder.node("Range", [builder.constant(np.array(0, np.int64)), length,
                                       builder.constant(np.array(1, np.int64))])
    x = builder.node("Add", [
        builder.node("Gather", [w("embeddings.word_embeddings.weight"), TOKEN_IDS], axis=0),
        builder.node("Gather", [w("embeddings.position_embeddings.weight"), positions],
                     axis=0)])
    x = builder.node("Add", [x, _constant(builder, np.asarray(
        weights["embeddings.token_type_embeddings.weight"])[0])])
    x = _layer_norm(builder, weights, "embeddings.LayerNorm", x)
    mask = builder.node("Cast", [builder.node("Not", [builder.node("Equal", [
        TOKEN_IDS, builder.constant(np.array(0, np.int64))])])], to=1)  # (batch, length)
    bias = builder.node("Mul", [builder.node("Sub", [_constant(builder, 1.0), mask]),
                                _constant(builder, -1e9)])
    bias = builder.node("Unsqueeze", [bias, builder.constant(np.array([1, 2], np.int64))])
    head = HIDDEN // N_HEADS
    for layer in range(N_LAYERS):
        name = f"encoder.layer.{layer}"
        q, k, v = (_heads(builder, _dense(builder, weights,
                                          f"{name}.attention.self.{part}", x))
                   for part in ("query", "key", "value"))
        scores = builder.node("Add", [builder.node("Div", [
            builder.node("MatMul", [q, builder.node("Transpose", [k], perm=[0, 1, 3, 2])]),
            _constant(builder, math.sqrt(head))]), bias])
        attended = builder.node("MatMul", [builder.node("Softmax", [scores], axis=-1), v])
        attended = builder.node("Reshape", [
            builder.node("Transpose", [attended], perm=[0, 2, 1, 3]),
            builder.constant(np.array([0, 0, -1], np.int64))])
        attended = _dense(builder, weights, f"{name}.attention.output.dense", attended)
        x = _layer_norm(builder, weights, f"{name}.attention.output.LayerNorm",
                        builder.node("Add", [x, attended]))
        hidden = _gelu(builder, _dense(builder, weights, f"{name}.intermediate.dense", x))
        hidden = _dense(builder, weights, f"{name}.output.dense", hidden)
        x = _layer_norm(builder, weights, f"{name}.output.LayerNorm",
                        builder.node("Add", [x, hidden]))
    tokens = builder.node("Unsqueeze", [mask, builder.constant(np.array([2], np.int64))])
    total = builder.node("ReduceSum", [builder.node("Mul", [x, tokens]),
                                       builder.constant(np.array([1], np.int64))], keepdims=0)
    count = builder.node("Max", [builder.node("ReduceSum", [tokens, builder.constant(
        np.array([1], np.int64))], keepdims=0), _constant(builder, 1.0)])
    return builder.node("Div", [total, count])


def _dense(builder: GraphBuilder, weights, name: str, x: str) -> str:
    kernel = np.asarray(weights[f"{name}.weight"], np.float32).T
    return builder.node("Add", [builder.node("MatMul", [x, _constant(builder, kernel)]),
                                _constant(builder, weights[f"{name}.bias"])])


def _layer_norm(builder: GraphBuilder, weights, name: str, x: str) -> str:
    return builder.node("LayerNormalization", [
        x, _constant(builder, weights[f"{name}.weight"]),
        _constant(builder, weights[f"{name}.bias"])], axis=-1, epsilon=1e-12)


def _heads(builder: GraphBuilder, x: str) -> str:
    shaped = builder.node("Reshape", [x, builder.constant(np.array([0, 0, N_HEADS, -1],
                                                                   np.int64))])
    return builder.node("Transpose", [shaped], perm=[0, 2, 1, 3])


def _gelu(builder: GraphBuilder, x: str) -> str:
    """The exact GELU: x (1 + erf(x / sqrt 2)) / 2."""
    erf = builder.node("Erf", [builder.node("Div", [x, _constant(builder, math.sqrt(2))])])
    return builder.node("Mul", [builder.node("Mul", [x, _constant(builder, 0.5)]),
                                builder.node("Add", [erf, _constant(builder, 1.0)])])
