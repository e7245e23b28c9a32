"""The benchmark's own logic, and its command end to end on its cheapest section.

The benchmark itself (minutes, torch and FLAML) is not run here: `python -m benchmarks`.
"""

import subprocess
import sys

import pandas as pd

from benchmarks import quality
from benchmarks.table import Row, format_value


def test_the_command_writes_a_table_with_the_machine(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only",
                           "overhead", "population", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [md] = tmp_path.glob("*.md")
    [csv] = tmp_path.glob("*.csv")
    text = md.read_text()
    assert "Machine: " in text and " cores, " in text and "optuna " in text
    assert "## 3. Engine overhead per trial" in text
    assert "- engine overhead: " in text  # the targets summary
    rows = pd.read_csv(csv)
    assert "## 6. Populations of trials" in text
    assert "- population of MLP 64-256-256-10, 2 trials: trained together " in text
    population = rows[rows["section"].str.startswith("6.")].set_index("tool")["value"]
    assert population["one by one"].size == 2  # the MLP and the CNN
    assert (population["together (vmap)"] > 1000).all()  # samples/s
    rows = rows[rows["section"].str.startswith("3.")]
    worker = "engine with trial_timeout (folds in a worker process, its start included)"
    assert set(rows["tool"]) == {"engine", "raw Optuna loop", "engine - raw", worker,
                                 "worker - engine"}
    per_trial = rows.set_index("tool")["value"]
    assert 0 < per_trial["engine"] < 1000 and 0 < per_trial["raw Optuna loop"] < 1000
    assert abs(per_trial["engine - raw"]
               - (per_trial["engine"] - per_trial["raw Optuna loop"])) < 1e-6
    assert 0 < per_trial[worker] < 5000  # its start (a second or two) over few trials
    assert abs(per_trial["worker - engine"] - (per_trial[worker] - per_trial["engine"])) < 1e-6


def test_compile_share_measures_a_cold_search_then_its_programs_from_the_cache(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only",
                           "compile", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [csv] = tmp_path.glob("*.csv")
    rows = pd.read_csv(csv)
    seconds = rows[rows["unit"] == "s"].set_index("what")["value"]
    cold = seconds.filter(like="cold compilation cache")
    warm = seconds.filter(like="warm compilation cache")
    assert len(cold) == len(warm) == 2  # wall time, compile seconds
    wall, compiling = cold.max(), cold.min()
    # the same trials trained; the programs loaded from disk faster than they compiled
    assert 0 < warm.min() < compiling < wall
    assert abs((warm.max() - warm.min()) - (wall - compiling)) < 1e-6
    assert "a search of 4 trials, populations of" in rows["what"].iloc[0]


def test_engine_task_sets_the_budget_and_turns_the_extras_off(tmp_path):
    import tomllib
    path = quality.engine_task("digits", 60, tmp_path, "digits-60")
    task = tomllib.loads(path.read_text())
    assert task["search"]["total_timeout"] == 60 * quality.SEARCH_SHARE
    assert task["report"] == {"seeds": 0, "learning_curve": [], "features": False}
    assert task["output"]["dir"] == str(tmp_path / "digits-60")
    assert task["dataset"]["name"] == "digits" and task["name"] == "digits_60"
    from automl.engine.task import load_task
    assert load_task(path).report_seeds == 0  # the engine accepts it


def test_boards_compare_family_by_family():
    board = {"family": ["svm", "cnn"], "cv_mean": [0.9, 0.8], "test_accuracy": [0.95, 0.9]}
    run = {"board": board, "trials": 9, "family": "svm", "accuracy": 0.95}
    assert quality.compare_boards(run, run) == "identical leaderboard (9 trials)"
    other = {"board": {**board, "test_accuracy": [0.95, 0.91]}, "trials": 10,
             "family": "svm", "accuracy": 0.95}
    assert quality.compare_boards(run, other) == (
        "same best family and test score; other families differ (9 vs 10 trials in the "
        "time budget; test scores differ for cnn)")
    # a family that ran no trial in either run (no scores, None) does not differ
    unscored = {**board, "test_accuracy": [0.95, None]}
    assert quality.compare_boards({**run, "board": unscored},
                                  {**other, "board": dict(unscored)}) == (
        "identical leaderboard (10 trials)")


def test_values_are_formatted_by_unit():
    assert format_value(Row("s", "w", "t", 123456.7, "samples/s")) == "123,457"
    assert format_value(Row("s", "w", "t", 0.98611, "accuracy")) == "0.9861"
    assert format_value(Row("s", "w", "t", 1.372, "x")) == "1.37"
