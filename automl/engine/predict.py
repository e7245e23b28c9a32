"""Predictions on new rows: ``python -m automl predict RUN_FOLDER new.csv``.

A run's folder holds everything a prediction needs: `run.json` (the table's columns and
types, the classes, the target) and each family's saved model with its preprocessing
inside (`automl.engine.saved_models`). New rows are read as the training file was
(`automl.data.table_files.read_table`), checked against the training columns, typed the same
way, and given to the model; unseen categories and missing values are handled as in
training, by the fitted encoders.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from automl.api.errors import AutomlError, DataError, did_you_mean
from automl.api.metrics import predict_proba
from automl.api.models import KINDS
from automl.data.table_files import read_table
from automl.data.tables import Column, typed_frame
from automl.engine.outputs import read_summary
from automl.engine.saved_models import ENSEMBLE, load_model


def winner(folder: Path, metric: str) -> str:
    """The family ranked first on the run's leaderboard, by validation score, that has a
    model: a test score, and a saved model or (the ensemble) saved members."""
    board = pd.read_csv(folder / "leaderboard.csv")
    scored = board[board[f"test_{metric}"].notna()
                   & (board["kind"].isin(KINDS) | (board["family"] == ENSEMBLE))]
    if scored.empty:
        raise AutomlError("no family of this run has a model", where=folder)
    return str(scored.iloc[0]["family"])


def check_columns(frame: pd.DataFrame, columns: list[Column], target: str | None,
                  where: Path) -> list[str]:
    """The training columns the new rows lack raise an error naming them; the extra
    columns they have are returned (they are ignored)."""
    used = [column.name for column in columns if column.used]
    names = [str(name) for name in frame.columns]
    missing = [name for name in used if name not in names]
    if missing:
        hint = did_you_mean(missing[0], [n for n in names if n not in used])
        raise DataError(f"the new rows lack column{'s' if len(missing) > 1 else ''} "
                        + ", ".join(repr(m) for m in missing), where=where,
                        expected="every column the model was trained on: " + ", ".join(used),
                        hint=hint)
    known = {column.name for column in columns} | ({target} if target else set())
    return [name for name in names if name not in known]


def predict_rows(folder: str | Path, rows_path: str | Path, family: str | None = None,
                 onnx: bool = False) -> tuple[pd.DataFrame, str, list[str]]:
    """The new rows with a ``prediction`` column (and ``proba_<class>`` columns for
    classifiers that give probabilities), the family that predicted, and the extra
    columns that were ignored. With `onnx`, the family's exported file (in the run's
    ``onnx/``, `automl.engine.onnx_files`) predicts instead of its saved model."""
    folder, rows_path = Path(folder), Path(rows_path)
    run = read_summary(folder)
    dataset = run.dataset
    if dataset.columns is None:
        raise AutomlError("predict takes tables; this run was trained on "
                          f"{dataset.input_kind} data", where=folder)
    if not rows_path.exists():
        raise DataError("file of new rows not found", where=rows_path)
    family = family or winner(folder, run.metric)
    frame = read_table(rows_path)
    frame.columns = [str(name) for name in frame.columns]
    extra = check_columns(frame, dataset.columns, dataset.target, rows_path)
    features = typed_frame(frame, dataset.columns)
    out = frame.copy()
    classes = dataset.class_names
    if onnx:
        predicted, proba = _onnx_predictions(folder, family, features, dataset)
    else:
        model = load_model(folder, family)
        predicted = np.asarray(model.predict(features))
        proba = (predict_proba(model, features, len(classes))
                 if dataset.task_type == "classification" else None)
    if dataset.task_type == "classification":
        out["prediction"] = [classes[int(i)] for i in predicted]
        if proba is not None:
            for index, name in enumerate(classes):
                out[f"proba_{name}"] = proba[:, index]
    else:
        out["prediction"] = predicted
    return out, family, extra


def _onnx_predictions(folder: Path, family: str, features: pd.DataFrame, dataset):
    """(labels or values, probabilities) of the family's exported file, deciding as the
    run decided (`automl.api.decisions.decide`)."""
    from automl.api.decisions import decide
    from automl.engine.onnx_files import onnx_predictions
    path = folder / "onnx" / f"{family}.onnx"
    if not path.is_file():
        raise AutomlError(f"no exported ONNX file of '{family}'", where=path,
                          hint=f"write it first: python -m automl export {folder} "
                          f"--family {family}")
    predicted, proba = onnx_predictions(path, features)
    if proba is not None:
        predicted = decide(proba, dataset.info())
    return predicted, proba


def main(folder: str, rows: str, family: str | None, out: str | None,
         onnx: bool = False) -> int:
    """The ``predict`` command: write the predictions and say where."""
    predictions, family, extra = predict_rows(folder, rows, family, onnx)
    if extra:
        print(f"warning: ignoring columns the model was not trained on: {', '.join(extra)}",
              file=sys.stderr)
    path = Path(out or "predictions.csv")
    try:
        predictions.to_csv(path, index=False)
    except OSError as error:
        raise AutomlError(f"cannot write the predictions ({error.strerror})",
                          where=path, key="--out") from None
    print(f"{len(predictions)} predictions by {family}: {path}")
    return 0
