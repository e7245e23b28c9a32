"""``python -m automl export RUN_FOLDER``: a run's saved models as ONNX files, and
``predict --onnx``, which runs them.

Each file is the model with its preprocessing (`automl.analyses.export`): it takes the raw
columns, one input each, and says in its metadata which column each input is, how it is
fed (``number``: float64, a blank NaN; ``category``: a string, a blank ""), and the
classes. The run's ``serving`` table (written when the ONNX packages were installed)
says whether each export agreed with its original on the test split; the command
repeats it beside each file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from automl.analyses.export import (
    TOKEN_IDS,
    NotExportable,
    column_kinds,
    encoder_of,
    export_onnx,
    input_names,
    is_tokenizer,
    onnx_available,
)
from automl.analyses.export import session as onnx_session
from automl.api.errors import AutomlError
from automl.engine.outputs import read_summary
from automl.engine.saved_models import ENSEMBLE, load_model

METADATA = "automl"
"""The metadata key of an exported file: JSON with ``inputs`` (input name -> column and
how it is fed), ``classes`` and ``family``."""


def export_folder(folder: str | Path, family: str | None = None, every: bool = False,
                  out: str | Path | None = None) -> int:
    """The ``export`` command: write the chosen families' ONNX files into `out`
    (default: the run's ``onnx/``) and say, for each, where it went or why it could not
    be written, and whether the run found it agreeing with its original."""
    from automl.engine.predict import winner
    missing = onnx_available()
    if missing:
        raise AutomlError(f"cannot export: {missing}")
    folder = Path(folder)
    run = read_summary(folder)
    board = pd.read_csv(folder / "leaderboard.csv")
    if every:
        chosen = [f for f in board["family"] if any((folder / "models").glob(f"{f}.*"))]
    else:
        chosen = [family or winner(folder, run.metric)]
    if ENSEMBLE in chosen:
        weights = pd.read_csv(folder / "ensemble.csv").query("weight > 0")
        chosen = [f for f in chosen if f != ENSEMBLE] + [
            f for f in weights["family"] if f not in chosen]
    target = Path(out) if out else folder / "onnx"
    target.mkdir(parents=True, exist_ok=True)
    parity = _parity_by_family(folder)
    shape = run.dataset.input_shape if run.dataset.columns is None else None
    failed = 0
    for name in chosen:
        model = load_model(folder, name)
        try:
            graph = labelled(export_onnx(model, shape), model, name, run.dataset.class_names)
        except NotExportable as error:
            failed += 1
            print(f"{name}: not exported: {error}")
            continue
        path = target / f"{name}.onnx"
        path.write_bytes(graph.SerializeToString())
        print(f"{name}: {path} ({path.stat().st_size / 2**20:.3g} MB; "
              f"{parity.get(name, 'not checked on this run')})")
        encoder = encoder_of(model)
        if is_tokenizer(encoder):
            tokens = target / f"{name}.tokenizer.json"
            tokens.write_text(encoder.to_str(), encoding="utf-8")
            print(f"{name}: the graph takes token ids, not texts: the tokenizer stays "
                  f"outside it, in {tokens} (Hugging Face tokenizers; each text's ids, "
                  f"cut to {encoder.max_length} and padded with 0, as int64 "
                  f"'{TOKEN_IDS}')")
    return 0 if failed < len(chosen) else 1


def labelled(graph, estimator, family: str, classes):
    """`graph` with the metadata `predict --onnx` reads."""
    encoder = encoder_of(estimator)
    kinds = column_kinds(encoder) if encoder is not None and not is_tokenizer(encoder) \
        else {}
    inputs = {name: {"column": column, "feed": "number" if kinds.get(column, "numeric")
                     == "numeric" else "category"}
              for column, name in input_names(encoder).items()}
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA, json.dumps({
        "family": family, "inputs": inputs, "classes": list(classes or [])})
    return graph


def _parity_by_family(folder: Path) -> dict[str, str]:
    """What the run's serving table says of each export."""
    path = folder / "serving.csv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path)
    return {row.family: (f"agreed with the original on the test split (largest "
                         f"difference {row.onnx_max_diff:.1e})" if row.onnx_parity ==
                         "agrees" else f"{row.onnx_parity} on the test split")
            for row in table.itertuples()}


def onnx_predictions(path: Path, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray |
                                                                     None]:
    """An exported file's predictions on typed rows: (labels or values, probabilities
    or None)."""
    try:
        session = onnx_session(str(path))
        described = json.loads(session.get_modelmeta().custom_metadata_map[METADATA])
    except Exception as error:  # a damaged or foreign file: said, not a traceback
        raise AutomlError(f"not an ONNX file this engine exported ({type(error).__name__})",
                          where=path, hint="write it with python -m automl export") from None
    if TOKEN_IDS in described["inputs"]:
        raise AutomlError("this file is a text network behind its tokenizer: it takes "
                          "token ids, not texts", where=path, hint="tokenize the texts "
                          f"with {described['family']}.tokenizer.json beside it and feed "
                          f"the ids as '{TOKEN_IDS}', or predict without --onnx")
    feed = {}
    for name, entry in described["inputs"].items():
        values = features[entry["column"]]
        feed[name] = (values.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
                      if entry["feed"] == "number" else
                      np.array(["" if pd.isna(v) else str(v) for v in values],
                               dtype=object).reshape(-1, 1))
    outputs = session.run(None, feed)
    if described["classes"]:
        proba = np.asarray(outputs[-1], dtype=np.float64)
        return proba.argmax(axis=1), proba
    return np.asarray(outputs[-1], dtype=np.float64).ravel(), None
