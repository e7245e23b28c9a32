"""A fitted model and its preprocessing as one ONNX graph that takes the raw columns.

The engine's table encoder (`automl.tables.TableEncoder`: blanks imputed with missing
indicators, categories one-hot, target or ordinal encoded) is written here as ONNX
operators from its fitted values, so the graph reads a row as the user has it: one input
per column, numbers as float (a blank is NaN), categories as strings (a blank is the
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


def _exported(estimator: Any, sample_shape: Sequence[int] | None):
    from automl.decisions import undecided
    from automl.tables import EncodedModel
    estimator = undecided(estimator)  # its label output is the most probable class
    if isinstance(estimator, EncodedModel):
        encoder, model = estimator.encoder_, estimator.model
    elif hasattr(estimator, "encoder_") and hasattr(estimator, "to_onnx"):
        encoder, model = estimator.encoder_, estimator
    else:
        raise NotExportable("model", f"{type(estimator).__name__} has no ONNX converter")
    encoding = encoder_graph(encoder, sample_shape)
    width = int(encoder.transform(_zero_rows(encoder, sample_shape)).shape[1])
    return _joined(encoding, model_graph(model, width))


def model_graph(model: Any, n_features: int):
    """The model alone, on `ENCODED` rows of `n_features` float32 numbers."""
    if hasattr(model, "to_onnx"):
        return model.to_onnx(n_features)
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import Pipeline
    steps = [(name, step) for name, step in getattr(model, "steps", [("model", model)])
             if name != "flatten"]  # the encoder's output is flat already
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


def input_names(encoder, sample_shape: Sequence[int] | None) -> dict[str, str]:
    """Each raw column (or ``X`` for an array) and the name of its graph input."""
    if _is_array(encoder):
        return {"X": "X"}
    return {column: _safe(column) for column in encoder.columns_}


def onnx_feed(X, encoder, sample_shape: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Rows as the graph's inputs: a table's columns each (n, 1), numbers as float32,
    categories as strings ("" for a blank); an array as float32 of its own shape."""
    if _is_array(encoder):
        return {"X": np.asarray(X, dtype=np.float32)}
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=encoder.columns_)
    kinds = column_kinds(encoder)
    feed = {}
    for column, name in input_names(encoder, sample_shape).items():
        values = frame[column]
        if kinds[column] == "numeric":
            feed[name] = values.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
        else:
            feed[name] = np.array(["" if pd.isna(v) else str(v) for v in values],
                                  dtype=object).reshape(-1, 1)
    return feed


# -- the encoder as ONNX operators ------------------------------------------------------


def encoder_graph(encoder, sample_shape: Sequence[int] | None):
    """The fitted `TableEncoder` as an ONNX model from its inputs to `ENCODED`."""
    from onnx import TensorProto, helper
    builder = _Builder()
    kinds = column_kinds(encoder)
    names = input_names(encoder, sample_shape)
    if _is_array(encoder):
        shape = [None, *(sample_shape or [])]
        inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, shape)]
        flat = builder.node("Flatten", ["X"], axis=1)
        columns = {column: builder.node("Gather", [flat, builder.constant(
            np.array([i], np.int64))], axis=1) for i, column in enumerate(encoder.columns_)}
    else:
        inputs = [helper.make_tensor_value_info(
            names[column], TensorProto.FLOAT if kinds[column] == "numeric"
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


def _part(builder: _Builder, name: str, transformer, used: list[str],
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


def _numeric(builder: _Builder, transformer, inputs: list[str]) -> str:
    """Numbers: as they are (for models that take blanks), or imputed by the training
    median with an indicator column per feature that had blanks there."""
    joined = builder.node("Concat", inputs, axis=1) if len(inputs) > 1 else inputs[0]
    if transformer == "passthrough" or getattr(transformer, "func", 0) is None:
        return joined  # a fitted "passthrough" is a FunctionTransformer without a function
    if not hasattr(transformer, "statistics_"):
        raise NotExportable("numbers", "the quantile transform of the numbers (the MLP's "
                            "numeric_transform) has no ONNX converter here")
    blank = builder.node("IsNaN", [joined])
    fill = np.nan_to_num(transformer.statistics_.astype(np.float32)).reshape(1, -1)
    imputed = builder.node("Where", [blank, builder.constant(fill), joined])
    indicator = getattr(transformer, "indicator_", None)
    if indicator is None or not len(indicator.features_):
        return imputed
    flags = builder.node("Gather", [blank, builder.constant(
        np.asarray(indicator.features_, np.int64))], axis=1)
    return builder.node("Concat", [imputed, builder.node("Cast", [flags], to=1)], axis=1)


def _keys(categories, filled: str | None) -> list[str]:
    return [str(value) for value in categories]


def _one_hot(builder: _Builder, column: str, categories, filled: str) -> str:
    """One column one-hot: a blank is the imputer's fill value, an unknown value all
    zeros (``handle_unknown="ignore"``)."""
    keys = _keys(categories, filled)
    blank = keys.index(filled) if filled in keys else -1
    codes = builder.label_encoder(column, [*keys, ""], [*range(len(keys)), blank], -1)
    hot = builder.node("Equal", [codes, builder.constant(
        np.arange(len(keys), dtype=np.int64).reshape(1, -1))])
    return builder.node("Cast", [hot], to=1)


def _codes(builder: _Builder, column: str, categories, absent: float) -> str:
    """One column as its category's code; a blank or unknown value as `absent`."""
    keys = _keys(categories, None)
    return builder.label_encoder(column, [*keys, ""],
                                 [float(i) for i in range(len(keys))] + [absent], absent)


def _target(builder: _Builder, encoder, filled: str, inputs: list[str]) -> str:
    """Target encoding: each category's fitted encoding (one per class for several
    classes), an unknown value the target's mean."""
    means = np.atleast_1d(encoder.target_mean_)
    per_feature = len(encoder.encodings_) // len(inputs)
    parts = []
    for j, column in enumerate(inputs):
        keys = _keys(encoder.categories_[j], filled)
        for k in range(per_feature):
            values = [float(v) for v in encoder.encodings_[j * per_feature + k]]
            mean = float(means[k] if len(means) > 1 else means[0])
            blank = values[keys.index(filled)] if filled in keys else mean
            parts.append(builder.label_encoder(column, [*keys, ""], [*values, blank], mean))
    return builder.node("Concat", parts, axis=1) if len(parts) > 1 else parts[0]


class _Builder:
    """Nodes and constants of a graph being written, with fresh names."""

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
    """Whether the encoder was fitted on an array (images, sequences), not a table."""
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
