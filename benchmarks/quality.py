"""Time to quality: best test accuracy at equal wall budgets on digits and MNIST-1D.

- The engine runs its built-in task for the dataset with the report's extra analyses off
  (seed comparison, learning curves, features) and ``search.total_timeout`` set to 40% of
  the budget: it counts trial time only, and the refit of every family, start-up and a
  deep family's first trial (which always finishes) come on top; the whole command is
  timed and its time shown. At `settings.repeat_budget` on `settings.repeat_dataset` it
  runs twice with the same seed and the two leaderboards are compared.
- FLAML (`flaml`, with xgboost and lightgbm) runs once for the largest budget, seed 0,
  and is read at each budget (see `benchmarks.flaml_search`).
- The Optuna + scikit-learn script is what a user would write: one TPE study over SVC,
  random forest, logistic regression and k-NN with 5-fold CV. Its search does not know
  its budget, so one run of the largest budget is read at each budget: the trial with
  the best CV score finished by then, refitted on the training split.

Every tool sees the same training and test split (the engine's) and every core.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.data import TASKS, flat
from benchmarks.table import Row

SECTION = "4. Time to quality (test accuracy at a wall budget)"
EXTRA_ANALYSES_OFF = "\n[report]\nseeds = 0\nlearning_curve = []\nfeatures = false\n"


SEARCH_SHARE = 0.4  # of a wall budget, given to total_timeout


def engine_task(name: str, budget: float, folder: Path, label: str) -> Path:
    """The built-in task file for `name`, searching for SEARCH_SHARE of the budget and
    without the extras, writing to (and keeping its study in) a folder of its own."""
    text = TASKS[name].read_text()
    text = text.split("\n[report]")[0]  # the task's own [report] section is replaced
    lines = [line for line in text.splitlines() if not line.startswith("total_timeout")]
    text = "\n".join(lines).replace(
        "[search]", f"[search]\ntotal_timeout = {budget * SEARCH_SHARE:g}")
    text = text.replace(f'name = "{name}"\nseed', f'name = "{name}_{budget:g}"\nseed', 1)
    path = folder / f"{label}.toml"
    path.write_text(text + f'\n[output]\ndir = "{folder / label}"\n' + EXTRA_ANALYSES_OFF)
    return path


def run_engine(name: str, budget: float, folder: Path, environment, label: str) -> dict:
    import pandas as pd
    task = engine_task(name, budget, folder, label)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "automl", str(task), "--quiet"], check=True,
                   capture_output=True, env=environment)
    wall = time.perf_counter() - start
    board = pd.read_csv(folder / task.stem / "leaderboard.csv")
    best = board.sort_values("cv_mean", ascending=False).iloc[0]
    scores = board[["family", "cv_mean", "test_accuracy"]].round(10)
    return {"wall": wall, "accuracy": float(best["test_accuracy"]), "family": best["family"],
            # a family that ran no trial has no scores: None, equal across runs (NaN is not)
            "board": scores.astype(object).where(scores.notna(), None).to_dict("list"),
            "trials": int(board[["trials_complete", "trials_pruned", "trials_failed"]]
                          .to_numpy().sum())}


def compare_boards(first: dict, second: dict) -> str:
    """Whether two runs agree: on the best family and its test score, and family by
    family (a time budget may end a family's search a trial earlier in one run)."""
    if first["board"] == second["board"]:
        return f"identical leaderboard ({second['trials']} trials)"
    a, b = first["board"], second["board"]
    differ = [family for family in a["family"] if family not in b["family"]
              or a["test_accuracy"][a["family"].index(family)]
              != b["test_accuracy"][b["family"].index(family)]]
    best = ("same best family and test score"
            if (first["family"], first["accuracy"]) == (second["family"], second["accuracy"])
            else "different best")
    return (f"{best}; other families differ ({first['trials']} vs {second['trials']} "
            f"trials in the time budget; test scores differ for {', '.join(differ)})")


def run_child(module: str, name: str, budgets: list[float], environment) -> dict:
    command = [sys.executable, "-m", module, name, ",".join(map(str, budgets))]
    output = subprocess.run(command, check=True, capture_output=True, text=True,
                            env=environment).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_accuracy(model, data) -> float:
    return float(np.mean(model.predict(flat(data.test.X)) == data.test.y))


def what(name: str, budget: float) -> str:
    return f"{name}, {budget:g} s"


def run(settings) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        for name in ("digits", "mnist1d"):
            for budget in settings.budgets:
                result = run_engine(name, budget, folder, settings.environment,
                                    f"{name}-{budget:g}")
                rows.append(Row(SECTION, what(name, budget), "engine", result["accuracy"],
                                "accuracy", f"best {result['family']} (by CV); "
                                f"{result['trials']} trials; command took "
                                f"{result['wall']:.0f} s"))
                if (name, budget) == (settings.repeat_dataset, settings.repeat_budget):
                    again = run_engine(name, budget, folder, settings.environment,
                                       f"{name}-{budget:g}-again")
                    rows.append(Row(SECTION, what(name, budget), "engine, same seed again",
                                    again["accuracy"], "accuracy",
                                    compare_boards(result, again)))
            if settings.with_flaml:
                flaml = run_child("benchmarks.flaml_search", name, settings.budgets,
                                  settings.environment)
                for budget, result in zip(settings.budgets, flaml, strict=True):
                    rows.append(Row(SECTION, what(name, budget), "FLAML", result["accuracy"],
                                    "accuracy", f"best {result['estimator']} by then; "
                                    f"its {max(settings.budgets):g} s fit took "
                                    f"{result['wall']:.0f} s"))
            script = run_child("benchmarks.optuna_search", name, settings.budgets,
                               settings.environment)
            for budget, result in zip(settings.budgets, script, strict=True):
                rows.append(Row(SECTION, what(name, budget), "Optuna + scikit-learn script",
                                result["accuracy"], "accuracy",
                                f"best {result['model']} of {result['trials']} trials"))
    return rows
