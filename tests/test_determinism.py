"""Same task file, same seed, sequential runs: the same leaderboard, test scores
included, for classical and deep families alike; the same ensemble weights, importances
and depth sweep."""

import pandas as pd
from conftest import run_cli

TASK = """
name = "twice"
seed = 11
[dataset]
name = "wine"
[families]
include = ["random_forest", "knn", "mlp"]
[search]
n_trials = 3
cv_folds = 3
[report]
seeds = 2
learning_curve = [0.5, 1.0]
curve_seeds = 1
ensemble = true
depth_sweep = true
"""


def test_two_runs_of_one_task_give_the_same_scores(tmp_path):
    boards = []
    for run in ("first", "second"):
        folder = tmp_path / run
        folder.mkdir()
        task = folder / "task.toml"
        task.write_text(TASK + f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
        result = run_cli(str(task), "--quiet")
        assert result.returncode == 0, result.stderr
        boards.append(pd.read_csv(folder / "out" / "leaderboard.csv").set_index("family"))
    scores = [c for c in boards[0].columns if c.startswith(("cv_", "test_"))] + ["best_params"]
    pd.testing.assert_frame_equal(boards[0][scores], boards[1][scores])
    assert boards[0].loc["mlp", "test_accuracy"] > 0.8
    curves = [pd.read_csv(tmp_path / run / "out" / "learning_curves.csv")
              for run in ("first", "second")]
    pd.testing.assert_series_equal(curves[0]["score"], curves[1]["score"])
    assert "ensemble" in boards[0].index
    for table, untimed in (("ensemble", ["family", "weight", "oof_score"]),
                           ("explanations", ["family", "method", "feature", "importance"]),
                           ("depth_sweep", ["family", "depth", "seed", "score", "n_params"])):
        first, second = (pd.read_csv(tmp_path / run / "out" / f"{table}.csv")[untimed]
                         for run in ("first", "second"))
        assert len(first) > 0, table
        pd.testing.assert_frame_equal(first, second)
