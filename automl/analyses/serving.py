"""Which model can I ship? Each refitted family exported to ONNX with its preprocessing
(`automl.analyses.export`), checked against the original on the test split, and its serving
cost measured the same way for the native model and the ONNX one.

Per family: whether it exported (else the step that could not be, and why); parity (the
largest difference of a class probability, or of a predicted value, and the share of
test rows whose label agrees); batch-1 latency p50 and p99 in milliseconds (warm, after
a warm-up, preprocessing included: the native model is given one row of the table, the
ONNX graph one row of its inputs); rows per second in batches of 1,000; size on disk;
and cold start (loading the saved file, or building the ONNX Runtime session). The
ensemble's row sums its members'.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from automl.analyses.api import Analysis, AnalysisContext
from automl.analyses.export import (
    NotExportable,
    encoder_of,
    export_onnx,
    is_tokenizer,
    onnx_available,
    onnx_feed,
)
from automl.analyses.export import session as onnx_session
from automl.api.schema import Option
from automl.data.input_kinds import kind_of

COLUMNS = ["family", "exported", "onnx_error", "onnx_parity", "onnx_max_diff",
           "onnx_label_agreement", "native_p50_ms", "native_p99_ms", "onnx_p50_ms",
           "onnx_p99_ms", "native_rows_per_s", "onnx_rows_per_s", "native_mb", "onnx_mb",
           "native_load_ms", "onnx_load_ms", "onnx_outside"]
PROBABILITY_TOLERANCE = 1e-4
"""An export agrees when no class probability differs from the original's by more
(float32 arithmetic in the graph against float64 in scikit-learn: about 1e-7 for the
linear models and forests measured) and every test row's label is the same; for
regression, when no value differs by more than this times the test targets' spread."""
SINGLE_ROWS = 200
"""Test rows timed one at a time (fewer when `SECONDS_PER_MEASURE` is spent first)."""
SECONDS_PER_MEASURE = 1.5
BATCH = 1000


def serving(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    """The `serving` table: a row per family with a model, and the ensemble's."""
    rows = []
    for result in context.results:
        if result.test is None or result.test.estimator is None:
            continue
        if context.cutoff.reached("the serving costs"):
            break
        try:
            rows.append(_measured(result, context))
        except Exception as error:  # one family's failure leaves the others' rows
            rows.append({"family": result.outcome.family.name, "exported": False,
                         "onnx_parity": "not measured",
                         "onnx_error": f"{type(error).__name__}: {error}"[:300]})
    together = context.shared.get("ensemble")
    if together is not None and together.row and set(together.member_weights) <= {
            row["family"] for row in rows}:
        rows.append(_summed(rows, set(together.member_weights)))
    table = pd.DataFrame(rows, columns=COLUMNS)
    context.add_leaderboard_column("onnx_parity", dict(zip(table.family, table.onnx_parity,
                                                           strict=True)))
    return {"serving": table}


def _measured(result, context: AnalysisContext) -> dict:
    family, estimator, dataset = (result.outcome.family.name, result.test.estimator,
                                  context.dataset)
    X = dataset.test.X
    shape = dataset.info.input_shape if not kind_of(dataset.info).is_table else None
    predict = estimator.predict_proba if hasattr(estimator, "predict_proba") \
        else estimator.predict
    row = {"family": family, **_timings("native", predict, _single_rows(X), _batch(X))}
    row["native_mb"], row["native_load_ms"] = _saved(context.folder, result.outcome.family,
                                                     estimator)
    try:
        graph = export_onnx(estimator, shape).SerializeToString()
    except NotExportable as error:
        return {**row, "exported": False, "onnx_error": str(error),
                "onnx_parity": "not exported"}
    started = time.perf_counter()
    session = onnx_session(graph)
    row["onnx_load_ms"] = 1000 * (time.perf_counter() - started)
    row["onnx_mb"] = len(graph) / 2**20
    encoder = encoder_of(estimator)
    # a text network's tokenizer stays outside its graph (timed with it: it runs first)
    row["onnx_outside"] = "the tokenizer" if is_tokenizer(encoder) else ""

    def run(rows):
        return session.run(None, rows)[-1]  # probabilities, or values for regression
    feeds = [onnx_feed(single, encoder) for single in _single_rows(X)]
    row.update(_timings("onnx", run, feeds, onnx_feed(_batch(X), encoder)))
    parity = _parity(np.asarray(predict(X), dtype=np.float64),
                     _as_array(run(onnx_feed(X, encoder))), dataset.test.y,
                     dataset.info.task_type == "classification")
    return {**row, "exported": True, "onnx_error": "", **parity}


def _parity(native: np.ndarray, exported: np.ndarray, y: np.ndarray,
            classification: bool) -> dict:
    """The largest difference between the two models' outputs on the test rows, the
    share of rows whose predicted label agrees, and the verdict by `PROBABILITY_TOLERANCE`."""
    native, exported = native.reshape(len(native), -1), exported.reshape(len(exported), -1)
    difference = float(np.abs(native - exported).max()) if native.size else 0.0
    if classification:
        agreement = float((native.argmax(1) == exported.argmax(1)).mean())
        agrees = difference <= PROBABILITY_TOLERANCE and agreement == 1.0
    else:
        agreement = float("nan")
        spread = float(np.std(y)) or 1.0
        agrees = difference <= PROBABILITY_TOLERANCE * spread
    return {"onnx_max_diff": difference, "onnx_label_agreement": agreement,
            "onnx_parity": "agrees" if agrees else "differs"}


def _timings(prefix: str, predict: Callable, singles: list, batch) -> dict:
    """Batch-1 latency percentiles (after a warm-up) and rows per second in a batch."""
    for single in singles[:5]:
        predict(single)
    seconds, deadline = [], time.perf_counter() + SECONDS_PER_MEASURE
    for single in singles:
        started = time.perf_counter()
        predict(single)
        seconds.append(time.perf_counter() - started)
        if time.perf_counter() > deadline:
            break
    predict(batch)
    started = time.perf_counter()
    predict(batch)
    elapsed = time.perf_counter() - started
    n = len(batch) if not isinstance(batch, dict) else len(next(iter(batch.values())))
    return {f"{prefix}_p50_ms": 1000 * float(np.percentile(seconds, 50)),
            f"{prefix}_p99_ms": 1000 * float(np.percentile(seconds, 99)),
            f"{prefix}_rows_per_s": n / elapsed if elapsed > 0 else float("nan")}


def _single_rows(X) -> list:
    """The first `SINGLE_ROWS` test rows, each a table (or array) of one row."""
    count = min(SINGLE_ROWS, len(X))
    if isinstance(X, pd.DataFrame):
        return [X.iloc[[i]] for i in range(count)]
    return [X[i:i + 1] for i in range(count)]


def _batch(X):
    """`BATCH` test rows (repeated where the test split is smaller)."""
    rows = np.resize(np.arange(len(X)), BATCH)
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]


def _saved(folder: Path | None, family, estimator) -> tuple[float, float]:
    """The saved model's size in MB and the milliseconds to read it back (NaN where the
    run saved none): skops with the family's declared types, or the network's msgpack."""
    from automl.api.decisions import undecided
    from automl.engine.saved_models import load_skops_bytes
    files = sorted(folder.glob(f"models/{family.name}.*")) if folder is not None else []
    if not files:
        return float("nan"), float("nan")
    data = files[0].read_bytes()
    started = time.perf_counter()
    try:
        if files[0].suffix == ".skops":
            load_skops_bytes(data, family.saved_types)
        else:
            type(undecided(estimator)).from_bytes(data)
    except Exception:  # a model its family's declared types cannot load: no cold start
        return len(data) / 2**20, float("nan")
    return len(data) / 2**20, 1000 * (time.perf_counter() - started)


def _as_array(output) -> np.ndarray:
    """An ONNX output as an array (a converter's list of class -> probability maps
    too)."""
    if isinstance(output, list) and output and isinstance(output[0], dict):
        return np.array([[row[key] for key in sorted(row)] for row in output])
    return np.asarray(output, dtype=np.float64)


def _summed(rows: list[dict], members: set[str]) -> dict:
    """The ensemble's row: its members' costs added up (it runs each of them)."""
    chosen = [row for row in rows if row["family"] in members]
    exported = all(row["exported"] for row in chosen)
    summed = {column: float(sum(row.get(column, np.nan) for row in chosen))
              for column in COLUMNS if column.endswith(("_ms", "_mb"))}
    rates = {prefix: 1 / sum(1 / row.get(f"{prefix}_rows_per_s", np.nan) for row in chosen)
             for prefix in ("native", "onnx") if exported or prefix == "native"}
    agree = all(row["onnx_parity"] == "agrees" for row in chosen)
    return {**summed, "family": "ensemble", "exported": exported,
            "onnx_error": "" if exported else "a member is not exported",
            "onnx_parity": "agrees" if agree else "differs" if exported else "not exported",
            "onnx_max_diff": max(row.get("onnx_max_diff", np.nan) for row in chosen),
            "onnx_label_agreement": float("nan"),
            "native_rows_per_s": rates["native"],
            "onnx_rows_per_s": rates.get("onnx", float("nan"))}


SERVING = Analysis(
    name="serving", title="serving costs and ONNX export", run=serving, order=650, cost=1,
    tables={"serving": COLUMNS}, switch="serving",
    applies=lambda context: onnx_available() is None, options={
        "serving": Option(bool, "Export each family to ONNX with its preprocessing, check "
                          "it against the original on the test split (`onnx_parity`), and "
                          "measure batch-1 latency, throughput, size and cold start for "
                          "both (the `serving` table, \"Which model can I ship?\"). Needs "
                          "the ONNX packages (`pip install automl[onnx]`).", default=True)})
