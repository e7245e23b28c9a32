"""The output folder of a run: every table the report is drawn from.

A run writes its tables (CSV, and Parquet when pyarrow is installed), ``run.json`` (what
ran, where, with which versions, on which data) and ``task.toml``; the HTML report is
then rendered from the folder alone, which is what lets ``python -m automl report DIR``
rebuild it without training anything.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from automl.api.errors import AutomlError
from automl.api.results import RunRecord, RunSummary, Tables

REQUIRED_TABLES = ("leaderboard", "trials", "predictions")
"""Tables every run writes: one row per family (and the rows analyses add, as the
ensemble's); per trial; per test row (true value and each family's prediction). A run
also writes ``ties`` (per family with fold scores: whether the validation folds tie it
with the pick, `automl.analyses.ties`), ``splits`` (per outer split and family,
`automl.analyses.splits`) and every registered analysis's tables
(`automl.Analysis.tables`); a folder is read back with every table the engine wrote in it,
and a table it lacks (a run before the table existed, or without the plugin of its
analysis) reads as empty."""
EXAMPLES = "examples.npz"
MANIFEST = ".automl-files.json"
"""The files the engine wrote in an output folder (paths relative to it, as JSON): a rerun
replaces or deletes only these, and a folder without it that holds other files is not
taken (`claim_folder`)."""


def claim_folder(folder: Path, *, other_files: bool = False) -> Path:
    """`folder` as a run's output folder: made where missing, and marked the engine's by
    `MANIFEST`. A folder that holds files but no manifest (one the engine did not make,
    nor a run of a version before manifests: ``run.json`` or ``optuna.journal``) is
    refused unless `other_files` (``[output] other_files = true``): its files are then
    left as they are, and only those of the engine's own names replaced."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # workers sharing the folder leave write probes and half-written manifests
        present = [path.name for path in folder.iterdir()
                   if not path.name.startswith((".write-test-", f"{MANIFEST}."))]
        earlier_run = {"run.json", "optuna.journal"} & set(present)  # before manifests
        if present and MANIFEST not in present and not earlier_run and not other_files:
            raise AutomlError(f"the output folder holds {len(present)} files the engine did "
                              f"not write (such as {sorted(present)[0]}), so the run does not "
                              "write into it", where=folder, key="output.dir",
                              hint="choose a new folder, or set [output] other_files = true")
        _write_manifest(folder, written_files(folder))  # also tries that it can write
    except OSError as error:
        raise AutomlError(f"cannot write to the output folder ({error.strerror})",
                          where=folder, key="output.dir") from None
    return folder


def written_files(folder: Path) -> set[str]:
    """The paths (relative to `folder`) the engine recorded writing there; none where the
    folder has no readable manifest."""
    try:
        listed = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
        return {name for name in listed if isinstance(name, str)}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def record_written(folder: Path, paths) -> None:
    """Add `paths` (in `folder`) to the folder's manifest."""
    _write_manifest(folder, written_files(folder) | {
        Path(path).relative_to(folder).as_posix() for path in paths})


def _write_manifest(folder: Path, names: set[str]) -> None:
    temporary = folder / f"{MANIFEST}.{os.getpid()}"  # replaced at once: workers share it
    temporary.write_text(json.dumps({"files": sorted(names)}, indent=1), encoding="utf-8")
    os.replace(temporary, folder / MANIFEST)


def write_record(record: RunRecord) -> None:
    folder = record.folder
    parquet = importlib.util.find_spec("pyarrow") is not None
    written = [folder / "task.toml", folder / "run.json"]
    for name, table in record.tables.items():
        written.append(folder / f"{name}.csv")
        table.to_csv(written[-1], index=False)
        if parquet:
            written.append(folder / f"{name}.parquet")
            table.to_parquet(written[-1], index=False)
    (folder / "task.toml").write_text(record.task_text, encoding="utf-8")
    (folder / "run.json").write_text(json.dumps(record.run.to_json(), indent=2) + "\n",
                                     encoding="utf-8")
    if record.examples:
        written.append(folder / EXAMPLES)
        np.savez_compressed(written[-1], **record.examples)
    record_written(folder, written)


def read_record(folder: Path) -> RunRecord:
    """Read a run's folder back; AutomlError naming what is missing."""
    folder = Path(folder)
    summary = read_summary(folder)
    tables = Tables()
    for name in REQUIRED_TABLES:
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise AutomlError(f"the run's {name} table is missing", where=path,
                              hint="run the task again to write it")
        tables[name] = _damaged_reads(path, pd.read_csv, keep_default_na=True)
    written = written_files(folder)
    for path in sorted(folder.glob("*.csv")):
        if path.stem not in tables and (not written or path.name in written):
            tables[path.stem] = _damaged_reads(path, pd.read_csv, keep_default_na=True)
    examples = {}
    if (folder / EXAMPLES).is_file():
        examples = _damaged_reads(folder / EXAMPLES, _examples)
    task_text = _damaged_reads(folder / "task.toml", Path.read_text, encoding="utf-8")
    return RunRecord(folder, summary, task_text, tables, examples)


def _examples(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:  # a pickled array could run code
        return {key: stored[key] for key in stored.files}


def _damaged_reads(path: Path, read, **options):
    """`read(path, **options)`, or an AutomlError naming `path` where it is damaged."""
    try:
        return read(path, **options)
    except Exception as error:  # pandas, numpy and the codecs raise many types
        raise AutomlError(f"the file is damaged ({type(error).__name__}: {error})",
                          where=path, hint="run the task again to write it") from None


def read_summary(folder: Path) -> RunSummary:
    """A run's ``run.json``, typed; AutomlError when the folder is not a run's."""
    path = Path(folder) / "run.json"
    if not path.is_file():
        raise AutomlError("not the output folder of a run: run.json is missing",
                          where=folder, hint="run the task first: python -m automl TASK")
    try:
        return RunSummary.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise AutomlError(f"run.json is damaged ({type(error).__name__}: {error})",
                          where=path, hint="run the task again to write it") from None
