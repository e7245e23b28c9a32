"""A fitted model and its preprocessing as one ONNX graph that takes the raw columns.

The engine's table encoder (`automl.data.tables.TableEncoder`: blanks imputed with missing
indicators, categories one-hot, target or ordinal encoded) is written here as ONNX
operators from its fitted values, so the graph reads a row as the user has it: one input
per column, numbers as float64 (a blank is NaN), categories as strings (a blank is the
empty string; a value the training rows never had is encoded as scikit-learn encodes an
unknown one). Images and sequences are one float input of the sample's shape. The model
behind the encoder is converted by skl2onnx (scikit-learn estimators) or by the model's
own ``to_onnx(n_features)`` (the boosting plugin's), and the two graphs are joined.

What cannot be written so raises `NotExportable`, naming the step and why: dates, free
text and the quantile transform of the encoder, models without a converter (the Flax
networks). Nothing is dropped silently.

The ONNX packages are an extra (``pip install automl[onnx]``): without them every
export says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

OPSETS = {"": 17, "ai.onnx.ml": 3}
"""The ONNX operator sets the graphs use: ONNX Runtime 1.16 and later run them."""
ENCODED = "encoded"
"""The name of the encoder's output, the model's input."""
TOKEN_IDS = "token_ids"  # noqa: S105 (an input's name, not a password)
"""The input of a text network's graph: its tokenizer's ids (`is_tokenizer`)."""


class NotExportable(Exception):
    """A model (or one step of its preprocessing) that cannot be written as ONNX."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"{step}: {reason}")
        self.step, self.reason = step, reason


def session(graph):
    """An ONNX Runtime session of `graph` (bytes or a path) on the CPU, quiet but for
    errors (it warns about declared output shapes some converters write loosely)."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def onnx_available() -> str | None:
    """None where the ONNX packages import, else why not (for the report and errors)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as error:
        return f"the ONNX packages are not installed ({error.name}): pip install automl[onnx]"
    return None


def export_onnx(estimator: Any, sample_shape: Sequence[int] | None = None):
    """The ONNX graph (an ``onnx.ModelProto``) of a fitted `estimator` with its
    preprocessing; `sample_shape` is one sample's shape for array inputs (images,
    sequences). Raises `NotExportable`."""
    missing = onnx_available()
    if missing:
        raise NotExportable("onnx", missing)
    import warnings
    with warnings.catch_warnings():  # converters read attributes scikit-learn deprecates
        warnings.simplefilter("ignore")
        return _exported(estimator, sample_shape)


def encoder_of(estimator: Any):
    """The engine's table encoder inside a fitted model (None for a model that reads
    arrays as they are): what `onnx_feed` needs to feed the model's graph."""
    from automl.api.decisions import undecided
    from automl.data.tables import EncodedModel
    estimator = undecided(estimator)
    if isinstance(estimator, EncodedModel):
        return estimator.encoder_
    embedder = _embedder(estimator)
    if embedder is not None:
        return embedder.onnx_encoder
    return getattr(estimator, "onnx_encoder", None)


def _embedder(estimator: Any):
    """The first step of a pipeline that writes its own graph behind a tokenizer (a
    pretrained text encoder, the classifier after it), or None."""
    steps = getattr(estimator, "steps", None)
    first = steps[0][1] if steps else None
    if first is not None and hasattr(first, "to_onnx") and is_tokenizer(
            getattr(first, "onnx_encoder", None)):
        return first
    return None


def _exported(estimator: Any, sample_shape: Sequence[int] | None):
    from automl.api.decisions import undecided
    from automl.data.tables import EncodedModel
    estimator = undecided(estimator)  # its label output is the most probable class
    embedder = _embedder(estimator)
    if embedder is not None:  # a text encoder, then the model reading what it writes
        return _joined(embedder.to_onnx(embedder.onnx_encoder.max_length),
                       model_graph(type(estimator)(estimator.steps[1:]),
                                   embedder.onnx_width))
    if isinstance(estimator, EncodedModel):
        model = estimator.model
    elif hasattr(estimator, "to_onnx") or (sample_shape is not None
                                           and hasattr(estimator, "get_params")):
        model = estimator  # its own graph, or a scikit-learn model of the array as it is
    else:
        raise NotExportable("model", f"{type(estimator).__name__} has no ONNX converter")
    encoder = encoder_of(estimator)
    if is_tokenizer(encoder):  # the network behind a tokenizer the graph cannot hold
        return model_graph(model, encoder.max_length)
    if encoder is None:  # an array the model reads as it is
        if sample_shape is None:
            model_graph(model, 0)  # its own reason, where it has one
            raise NotExportable("model", f"{type(estimator).__name__} takes a table "
                                "without the engine's encoder")
        return _joined(flat_graph(sample_shape),
                       model_graph(model, int(np.prod(sample_shape))))
    encoding = encoder_graph(encoder, sample_shape)
    width = int(encoder.transform(_zero_rows(encoder, sample_shape)).shape[1])
    return _joined(encoding, model_graph(model, width))


def flat_graph(sample_shape: Sequence[int]):
    """The graph from an array input ``X`` of `sample_shape` to `ENCODED`, flattened."""
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["X"], [ENCODED], axis=1)], "automl_flatten",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, *sample_shape])],
        [helper.make_tensor_value_info(ENCODED, TensorProto.FLOAT, [None, None])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, version)
                                                   for domain, version in OPSETS.items()])


def model_graph(model: Any, n_features: int):
    """The model alone, on `ENCODED` rows of `n_features` float32 numbers."""
    if hasattr(model, "to_onnx"):
        return model.to_onnx(n_features)
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import Pipeline
    steps = [(name, step) for name, step in getattr(model, "steps", [("model", model)])
             if name != "flatten"]  # the encoder's output is flat already
    scaler = getattr(steps[-1][1], "transformer_", None)
    if type(steps[-1][1]).__name__ == "TransformedTargetRegressor" and hasattr(
            scaler, "scale_"):  # a regressor fitted on the standardised target
        steps[-1] = (steps[-1][0], steps[-1][1].regressor_)
        return _rescaled(model_graph(Pipeline(steps), n_features), scaler)
    pipeline = Pipeline(steps)
    options = {id(steps[-1][1]): {"zipmap": False}} if hasattr(steps[-1][1], "classes_") \
        else None
    try:
        return convert_sklearn(pipeline, initial_types=[(ENCODED, FloatTensorType(
            [None, n_features]))], options=options, target_opset=OPSETS)
    except Exception as error:  # skl2onnx raises many types for what it cannot convert
        raise NotExportable(type(steps[-1][1]).__name__,
                            f"skl2onnx cannot convert it ({type(error).__name__}: "
                            f"{str(error).splitlines()[0][:160]})") from None


def _rescaled(graph, scaler):
    """A regressor's graph with its output taken back to the target's scale (the inverse
    of the `StandardScaler` its target was fitted through)."""
    from onnx import helper, numpy_helper
    output = graph.graph.output[0]
    scaled = f"{output.name}_standardised"
    for node in graph.graph.node:
        node.output[:] = [scaled if name == output.name else name for name in node.output]
    for name, value in (("target_scale", scaler.scale_), ("target_mean", scaler.mean_)):
        graph.graph.initializer.append(numpy_helper.from_array(
            np.asarray(value, np.float32).reshape(1, -1), name))
    graph.graph.node.extend([
        helper.make_node("Mul", [scaled, "target_scale"], [f"{scaled}_times"]),
        helper.make_node("Add", [f"{scaled}_times", "target_mean"], [output.name])])
    return graph


def is_tokenizer(encoder) -> bool:
    """Whether `encoder` is a text network's tokenizer (texts to token ids, with
    ``to_str``: its Hugging Face JSON, and ``max_length``): it stays outside the graph,
    which takes its ids as `TOKEN_IDS`."""
    return encoder is not None and hasattr(encoder, "to_str") and hasattr(
        encoder, "max_length")


def input_names(encoder) -> dict[str, str]:
    """Each raw column (``X`` for an array, `TOKEN_IDS` behind a tokenizer) and the name
    of its graph input."""
    if is_tokenizer(encoder):
        return {TOKEN_IDS: TOKEN_IDS}
    if _is_array(encoder):
        return {"X": "X"}
    return {column: _safe(column) for column in encoder.columns_}


def onnx_feed(X, encoder) -> dict[str, np.ndarray]:
    """Rows as the graph's inputs: a table's columns each (n, 1), numbers as float64,
    categories as strings ("" for a blank); an array as float32 of its own shape; texts
    as the tokenizer's ids, int64 (n, max_length), 0 after a text's end."""
    if is_tokenizer(encoder):
        return {TOKEN_IDS: np.asarray(encoder.transform(X)).astype(np.int64)}
    if _is_array(encoder):
        return {"X": np.asarray(X, dtype=np.float32)}
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=encoder.columns_)
    kinds = column_kinds(encoder)
    feed = {}
    for column, name in input_names(encoder).items():
        values = frame[column]
        if kinds[column] == "numeric":
            feed[name] = values.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
        else:
            feed[name] = np.array(["" if pd.isna(v) else str(v) for v in values],
                                  dtype=object).reshape(-1, 1)
    return feed


# -- the encoder as ONNX operators ------------------------------------------------------


def encoder_graph(encoder, sample_shape: Sequence[int] | None):
    """The fitted `TableEncoder` as an ONNX model from its inputs to `ENCODED`."""
    from onnx import TensorProto, helper
    builder = GraphBuilder()
    kinds = column_kinds(encoder)
    names = input_names(encoder)
    if _is_array(encoder):
        shape = [None, *(sample_shape or [])]
        inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, shape)]
        flat = builder.node("Flatten", ["X"], axis=1)
        columns = {column: builder.node("Gather", [flat, builder.constant(
            np.array([i], np.int64))], axis=1) for i, column in enumerate(encoder.columns_)}
    else:
        inputs = [helper.make_tensor_value_info(
            names[column], TensorProto.DOUBLE if kinds[column] == "numeric"
            else TensorProto.STRING, [None, 1]) for column in encoder.columns_]
        columns = {column: names[column] for column in encoder.columns_}
    parts = [_part(builder, name, transformer, list(used), columns)
             for name, transformer, used in encoder.transformer_.transformers_
             if transformer != "drop" and len(used)]
    output = builder.node("Concat", parts, axis=1) if len(parts) > 1 else parts[0]
    builder.nodes.append(helper.make_node("Identity", [output], [ENCODED]))
    graph = helper.make_graph(builder.nodes, "automl_encoder", inputs, [
        helper.make_tensor_value_info(ENCODED, TensorProto.FLOAT, [None, None])],
        initializer=builder.constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, version)
                                                   for domain, version in OPSETS.items()])


def _part(builder: GraphBuilder, name: str, transformer, used: list[str],
          columns: dict[str, str]) -> str:
    """One part of the encoder's column transformer, as float32 columns."""
    steps = dict(getattr(transformer, "steps", [(name, transformer)]))
    if name == "numeric":
        return _numeric(builder, transformer, [columns[c] for c in used])
    if name == "onehot":
        encoder, filled = steps["onehotencoder"], steps["simpleimputer"].fill_value
        return builder.node("Concat", [_one_hot(builder, columns[c], categories, filled)
                                       for c, categories in zip(used, encoder.categories_,
                                                                strict=True)], axis=1)
    if name == "target":
        return _target(builder, steps["targetencoder"], steps["simpleimputer"].fill_value,
                       [columns[c] for c in used])
    if name == "categorical":
        encoder = steps["ordinalencoder"]
        absent = float(encoder.unknown_value)
        return builder.node("Concat", [_codes(builder, columns[c], categories, absent)
                                       for c, categories in zip(used, encoder.categories_,
                                                                strict=True)], axis=1)
    if name == "datetime":
        raise NotExportable("dates", f"the date parts of {', '.join(used)} are pandas code")
    if name.startswith("text_"):
        raise NotExportable("text", f"the TF-IDF and SVD of {', '.join(used)}")
    raise NotExportable(name, "an encoder part the exporter does not know")


def _numeric(builder: GraphBuilder, transformer, inputs: list[str]) -> str:
    """Numbers: as they are (for models that take blanks), or imputed by the training
    median with an indicator column per feature that had blanks there."""
    joined = builder.node("Concat", inputs, axis=1) if len(inputs) > 1 else inputs[0]
    joined = builder.node("Cast", [joined], to=11)  # float64, as scikit-learn computes
    if transformer == "passthrough" or getattr(transformer, "func", 0) is None:
        return builder.node("Cast", [joined], to=1)  # a fitted "passthrough"
    quantiles = None
    if not hasattr(transformer, "statistics_"):  # imputed, then quantile-transformed
        transformer, quantiles = transformer.steps[0][1], transformer.steps[1][1]
    blank = builder.node("IsNaN", [joined])
    fill = np.nan_to_num(transformer.statistics_.astype(np.float64)).reshape(1, -1)
    imputed = builder.node("Where", [blank, builder.constant(fill), joined])
    indicator = getattr(transformer, "indicator_", None)
    if indicator is not None and len(indicator.features_):
        flags = builder.node("Gather", [blank, builder.constant(
            np.asarray(indicator.features_, np.int64))], axis=1)
        imputed = builder.node("Concat", [imputed, builder.node("Cast", [flags], to=11)],
                               axis=1)
    if quantiles is not None:
        imputed = _quantile_normal(builder, imputed, quantiles)
    return builder.node("Cast", [imputed], to=1)


def _quantile_normal(builder: GraphBuilder, x: str, transformer) -> str:
    """scikit-learn's `QuantileTransformer` to a normal distribution, in float64: each
    column interpolated on its training quantiles both ways and averaged (as it does, so
    that repeated quantiles map to the middle of their references), the ends set to 0 and
    1, then the normal's inverse CDF (Acklam's rational approximation, relative error
    1e-9) of the value clipped as scikit-learn clips it."""
    bound = 1e-7  # scikit-learn's BOUNDS_THRESHOLD
    q = np.asarray(transformer.quantiles_, np.float64)  # (k, columns)
    r = np.asarray(transformer.references_, np.float64).reshape(-1, 1)  # (k, 1)
    x3 = builder.node("Unsqueeze", [x, builder.constant(np.array([1], np.int64))])  # (b,1,c)
    below = builder.node("Cast", [builder.node("LessOrEqual", [
        builder.constant(q[None]), x3])], to=11)
    strictly = builder.node("Cast", [builder.node("Less", [builder.constant(q[None]), x3])],
                            to=11)
    count_le = builder.node("ReduceSum", [below, builder.constant(np.array([1], np.int64))],
                            keepdims=0)
    count_lt = builder.node("ReduceSum", [strictly, builder.constant(
        np.array([1], np.int64))], keepdims=0)
    last = float(len(q) - 1)
    right = builder.node("Clip", [builder.node("Sub", [count_le, builder.constant(
        np.array(1.0))]), builder.constant(np.array(0.0)), builder.constant(np.array(last - 1))])
    left = builder.node("Clip", [count_lt, builder.constant(np.array(1.0)),
                                 builder.constant(np.array(last))])
    forward = _segment(builder, x, q, r, right, builder.node("Add", [
        right, builder.constant(np.array(1.0))]))
    backward = _segment(builder, x, q, r, left, builder.node("Sub", [
        left, builder.constant(np.array(1.0))]))
    p = builder.node("Mul", [builder.constant(np.array(0.5)),
                             builder.node("Add", [forward, backward])])
    upper = builder.node("Greater", [builder.node("Add", [x, builder.constant(
        np.array(bound))]), builder.constant(q[-1][None])])
    lower = builder.node("Less", [builder.node("Sub", [x, builder.constant(
        np.array(bound))]), builder.constant(q[0][None])])
    p = builder.node("Where", [upper, builder.constant(np.array(1.0)), p])
    p = builder.node("Where", [lower, builder.constant(np.array(0.0)), p])
    edge = bound - np.spacing(1)
    p = builder.node("Clip", [p, builder.constant(np.array(edge)),
                              builder.constant(np.array(1 - edge))])
    return _normal_quantile(builder, p)


def _segment(builder: GraphBuilder, x: str, q: np.ndarray, r: np.ndarray, start: str,
             end: str) -> str:
    """The line through (q[start], r[start]) and (q[end], r[end]) at x, per column
    (`start` and `end` are float indices, one per row and column)."""
    columns = np.arange(q.shape[1], dtype=np.float64)[None]
    flat_q = builder.constant(q.reshape(-1))

    def at(index: str, table: str, per_column: bool) -> str:
        position = builder.node("Add", [builder.node("Mul", [index, builder.constant(
            np.array(float(q.shape[1])))]), builder.constant(columns)]) if per_column \
            else index
        return builder.node("Gather", [table, builder.node("Cast", [position], to=7)])
    flat_r = builder.constant(r.reshape(-1))
    q0, q1 = at(start, flat_q, True), at(end, flat_q, True)
    r0, r1 = at(start, flat_r, False), at(end, flat_r, False)
    run = builder.node("Sub", [q1, q0])
    flat = builder.node("Equal", [run, builder.constant(np.array(0.0))])
    slope = builder.node("Where", [flat, builder.constant(np.array(0.0)), builder.node(
        "Div", [builder.node("Sub", [r1, r0]), builder.node("Where", [
            flat, builder.constant(np.array(1.0)), run])])])
    return builder.node("Add", [r0, builder.node("Mul", [slope, builder.node(
        "Sub", [x, q0])])])


ACKLAM = (
    (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
     1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00),
    (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
     6.680131188771972e01, -1.328068155288572e01, 1.0),
    (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758276161838e00,
     -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00),
    (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
     3.754408661907416e00, 1.0),
)
"""The coefficients of Acklam's approximation to the normal's inverse CDF."""


def _normal_quantile(builder: GraphBuilder, p: str) -> str:
    """The standard normal's inverse CDF at p (float64, 0 < p < 1)."""
    a, b, c, d = ACKLAM

    def polynomial(t: str, coefficients) -> str:
        value = builder.constant(np.array(coefficients[0]))
        for coefficient in coefficients[1:]:
            value = builder.node("Add", [builder.node("Mul", [value, t]),
                                         builder.constant(np.array(coefficient))])
        return value
    centred = builder.node("Sub", [p, builder.constant(np.array(0.5))])
    squared = builder.node("Mul", [centred, centred])
    middle = builder.node("Div", [builder.node("Mul", [polynomial(squared, a), centred]),
                                  polynomial(squared, b)])
    tail_p = builder.node("Min", [p, builder.node("Sub", [builder.constant(np.array(1.0)), p])])
    t = builder.node("Sqrt", [builder.node("Mul", [builder.constant(np.array(-2.0)),
                                                   builder.node("Log", [tail_p])])])
    tail = builder.node("Div", [polynomial(t, c), polynomial(t, d)])  # the lower tail's
    tail = builder.node("Where", [builder.node("Greater", [p, builder.constant(
        np.array(0.5))]), builder.node("Neg", [tail]), tail])
    in_tail = builder.node("Less", [tail_p, builder.constant(np.array(0.02425))])
    return builder.node("Where", [in_tail, tail, middle])


def _keys(categories) -> list[str]:
    """A fitted encoder's categories as the strings the graph is fed."""
    return [str(value) for value in categories]


def _one_hot(builder: GraphBuilder, column: str, categories, filled: str) -> str:
    """One column one-hot: a blank is the imputer's fill value, an unknown value all
    zeros (``handle_unknown="ignore"``)."""
    keys = _keys(categories)
    blank = keys.index(filled) if filled in keys else -1
    codes = builder.label_encoder(column, [*keys, ""], [*range(len(keys)), blank], -1)
    hot = builder.node("Equal", [codes, builder.constant(
        np.arange(len(keys), dtype=np.int64).reshape(1, -1))])
    return builder.node("Cast", [hot], to=1)


def _codes(builder: GraphBuilder, column: str, categories, absent: float) -> str:
    """One column as its category's code; a blank or unknown value as `absent`."""
    keys = _keys(categories)
    return builder.label_encoder(column, [*keys, ""],
                                 [float(i) for i in range(len(keys))] + [absent], absent)


def _target(builder: GraphBuilder, encoder, filled: str, inputs: list[str]) -> str:
    """Target encoding: each category's fitted encoding (one per class for several
    classes), an unknown value the target's mean."""
    means = np.atleast_1d(encoder.target_mean_)
    per_feature = len(encoder.encodings_) // len(inputs)
    parts = []
    for j, column in enumerate(inputs):
        keys = _keys(encoder.categories_[j])
        for k in range(per_feature):
            values = [float(v) for v in encoder.encodings_[j * per_feature + k]]
            mean = float(means[k] if len(means) > 1 else means[0])
            blank = values[keys.index(filled)] if filled in keys else mean
            parts.append(builder.label_encoder(column, [*keys, ""], [*values, blank], mean))
    return builder.node("Concat", parts, axis=1) if len(parts) > 1 else parts[0]


class GraphBuilder:
    """Nodes and constants of a graph being written, with fresh names (for a plugin's
    ``to_onnx`` too)."""

    def __init__(self):
        self.nodes: list = []
        self.constants: list = []

    def name(self, stem: str) -> str:
        return f"{stem}_{len(self.nodes) + len(self.constants)}"

    def node(self, op: str, inputs: list[str], domain: str = "", **attributes) -> str:
        from onnx import helper
        output = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], domain=domain,
                                           **attributes))
        return output

    def constant(self, value: np.ndarray) -> str:
        from onnx import numpy_helper
        name = self.name("constant")
        self.constants.append(numpy_helper.from_array(value, name))
        return name

    def model(self, name: str, inputs: list, output: str, width: int | None = None):
        """The graph written so far as an ONNX model, from `inputs` (value infos) to
        `output` (float32 rows of `width` numbers)."""
        from onnx import TensorProto, helper
        graph = helper.make_graph(self.nodes, name, inputs, [helper.make_tensor_value_info(
            output, TensorProto.FLOAT, [None, width])], initializer=self.constants)
        return helper.make_model(graph, opset_imports=[
            helper.make_opsetid(domain, version) for domain, version in OPSETS.items()])

    def label_encoder(self, column: str, keys: list[str], values: list, default) -> str:
        """A string column mapped to numbers: int64 codes, or float32 values."""
        if isinstance(default, int):
            mapped = self.node("LabelEncoder", [column], domain="ai.onnx.ml",
                               keys_strings=keys, values_int64s=[int(v) for v in values],
                               default_int64=default)
        else:
            mapped = self.node("LabelEncoder", [column], domain="ai.onnx.ml",
                               keys_strings=keys, values_floats=[float(v) for v in values],
                               default_float=float(default))
        return mapped


def _joined(encoding, model):
    """The encoder's graph followed by the model's, on `ENCODED`: both declare every
    operator set either uses, at the newer version of the two."""
    from onnx import compose, helper
    versions: dict[str, int] = {}
    for opset in [*encoding.opset_import, *model.opset_import]:
        versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    for part in (encoding, model):
        del part.opset_import[:]
        part.opset_import.extend(helper.make_opsetid(domain, version)
                                 for domain, version in versions.items())
    encoding.ir_version = model.ir_version = max(encoding.ir_version, model.ir_version)
    return compose.merge_models(encoding, model,
                                io_map=[(ENCODED, model.graph.input[0].name)],
                                prefix2="model_")


def column_kinds(encoder) -> dict[str, str]:
    """Each raw column of the encoder's table: ``numeric``, ``category`` (ordinal and
    encoded categories alike are fed as strings), or the part that cannot be exported
    (``datetime``, ``text_<column>``)."""
    kinds = dict.fromkeys(encoder.columns_, "numeric")
    for name, _, used in encoder.transformer_.transformers_:
        if name in ("onehot", "target", "categorical"):
            kinds.update(dict.fromkeys(used, "category"))
        elif name == "datetime" or name.startswith("text_"):
            kinds.update(dict.fromkeys(used, name))
    return kinds


def _is_array(encoder) -> bool:
    """Whether the model reads an array (images, sequences) as it is (no encoder), or
    through an encoder fitted on one, not on a table."""
    if encoder is None:
        return True
    return list(encoder.columns_) == [f"f{i}" for i in range(len(encoder.columns_))]


def _zero_rows(encoder, sample_shape: Sequence[int] | None):
    """Two rows of zeros (blank categories) in the encoder's input, to learn its width."""
    if _is_array(encoder):
        return np.zeros((2, *(sample_shape or [len(encoder.columns_)])), np.float32)
    kinds = column_kinds(encoder)
    return pd.DataFrame({column: [0.0, 0.0] if kinds[column] == "numeric"
                         else pd.Series([np.nan, np.nan], dtype=object)
                         for column in encoder.columns_})


def _safe(name: str) -> str:
    """A column name as an ONNX input name (letters, digits and underscores)."""
    return re.sub(r"\W+", "_", str(name)) or "column"
