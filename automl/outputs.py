"""The output folder of a run: every table the report is drawn from.

A run writes its tables (CSV, and Parquet when pyarrow is installed), ``run.json`` (what
ran, where, with which versions, on which data) and ``task.toml``; the HTML report is
then rendered from the folder alone, which is what lets ``python -m automl report DIR``
rebuild it without training anything.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd

from automl.errors import AutomlError
from automl.results import RunRecord, RunSummary

TABLES = ("leaderboard", "trials", "predictions", "seed_scores", "comparison",
          "learning_curves", "importances", "features", "depth_sweep", "explanations",
          "ensemble", "ties", "splits")
"""Tables of a run: one row per family (and the ensemble); per trial; per test row (true
value and each family's prediction); per family and seed; per compared pair; per family,
training share and seed; per family and searched parameter; per family and input
representation; per deep family, depth and seed; per family, method and feature; per
family the ensemble could blend (its weight and out-of-fold score); per family with fold
scores (whether the validation folds tie it with the pick, `automl.ties`); per outer split
and family (validation and test score, whether picked; `automl.splits`)."""
LATER_TABLES = {"depth_sweep", "explanations", "ensemble", "ties", "splits"}
"""Tables that runs written before they existed lack: read as empty."""
EXAMPLES = "examples.npz"


def write_record(record: RunRecord) -> None:
    folder = record.folder
    parquet = importlib.util.find_spec("pyarrow") is not None
    for name, table in record.tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)
        if parquet:
            table.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "task.toml").write_text(record.task_text, encoding="utf-8")
    (folder / "run.json").write_text(json.dumps(record.run.to_json(), indent=2) + "\n",
                                     encoding="utf-8")
    if record.examples:
        np.savez_compressed(folder / EXAMPLES, **record.examples)


def read_record(folder: Path) -> RunRecord:
    """Read a run's folder back; AutomlError naming what is missing."""
    folder = Path(folder)
    summary = read_summary(folder)
    tables = {}
    for name in TABLES:
        path = folder / f"{name}.csv"
        if not path.is_file() and name in LATER_TABLES:
            tables[name] = pd.DataFrame()
            continue
        if not path.is_file():
            raise AutomlError(f"the run's {name} table is missing", where=path,
                              hint="run the task again to write it")
        tables[name] = pd.read_csv(path, keep_default_na=True)
    examples = {}
    if (folder / EXAMPLES).is_file():
        with np.load(folder / EXAMPLES, allow_pickle=False) as stored:
            examples = {key: stored[key] for key in stored.files}
    return RunRecord(folder, summary, (folder / "task.toml").read_text(encoding="utf-8"),
                     tables, examples)


def read_summary(folder: Path) -> RunSummary:
    """A run's ``run.json``, typed; AutomlError when the folder is not a run's."""
    path = Path(folder) / "run.json"
    if not path.is_file():
        raise AutomlError("not the output folder of a run: run.json is missing",
                          where=folder, hint="run the task first: python -m automl TASK")
    return RunSummary.from_json(json.loads(path.read_text(encoding="utf-8")))
