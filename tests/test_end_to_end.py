"""The command line end to end: real searches on small budgets, files written, reruns resume."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_cli
from sklearn.datasets import make_classification

from automl import ModelFamily, hookimpl
from automl.engine.plugins import build_registry
from automl.engine.progress import Progress
from automl.engine.run import run_task
from automl.engine.task import load_task

SMALL_DIGITS = """
name = "small_digits"
seed = 1
[dataset]
name = "digits"
[families]
include = ["knn", "logistic_regression", "naive_bayes"]
[search]
n_trials = 4
cv_folds = 3
"""


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """Run the CLI twice on the same small task; the second run should resume."""
    folder = tmp_path_factory.mktemp("digits")
    task = folder / "small.toml"
    task.write_text(SMALL_DIGITS + f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
    first = run_cli(str(task))
    board_first = pd.read_csv(folder / "out" / "leaderboard.csv")
    second = run_cli(str(task))
    return folder / "out", first, board_first, second


def test_the_run_writes_a_leaderboard_with_a_row_per_family(digits_run):
    out, first, board, _ = digits_run
    assert first.returncode == 0, first.stderr
    assert set(board["family"]) == {"knn", "logistic_regression", "naive_bayes", "ensemble"}
    for column in ["rank", "kind", "cv_mean", "cv_std", "test_accuracy",
                   "test_balanced_accuracy", "test_f1_macro", "test_roc_auc", "test_log_loss",
                   "fit_s", "predict_ms_per_1k", "trials_complete", "trials_pruned",
                   "trials_failed", "best_params"]:
        assert column in board.columns
    assert set(board["kind"]) == {"classical", "ensemble"}  # the blend is on by default
    families = board[board["kind"] == "classical"]
    assert board["test_accuracy"].between(0.75, 1.0).all()
    assert board.iloc[0]["test_accuracy"] > 0.95
    assert board["test_roc_auc"].between(0.9, 1.0).all()
    assert (families["trials_complete"] + families["trials_pruned"]
            + families["trials_failed"] == 4).all()
    assert list(board["rank"]) == [1, 2, 3, 4]
    assert board["cv_mean"].is_monotonic_decreasing  # ranked by validation, not test
    assert all(json.loads(params) for params in families["best_params"])


def test_the_terminal_shows_progress_and_the_leaderboard(digits_run):
    _, first, board, _ = digits_run
    assert "[1/3]" in first.stderr and "trials" in first.stderr
    assert "leaderboard (ranked by validation accuracy, cv_mean" in first.stdout
    assert board.iloc[0]["family"] in first.stdout


def test_the_html_report_is_self_contained_and_shows_the_leaderboard(digits_run):
    out = digits_run[0]
    html = (out / "index.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    for family in ("knn", "logistic_regression", "naive_bayes"):
        assert family in html
    # nothing is loaded from the network: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    assert "test accuracy" in html
    assert html.count("vegaEmbed(") == 1  # the plotting library is inlined once
    # the leaderboard keeps a family to one line: its notes cut there, whole on hover
    assert "table.sortable td.long{" in html and "white-space:nowrap" in html


def test_every_plot_is_embedded_with_its_data_and_written_as_a_static_image(digits_run):
    out = digits_run[0]
    html = (out / "index.html").read_text()
    specs = [json.loads(text) for text in re.findall(
        r'<script type="application/json" id="plot-\d+">(.*?)</script>', html)]
    static = sorted((out / "plots").glob("*.svg"))
    assert len(specs) == html.count('<div class="vega"') == len(static) >= 8
    titles = [spec["title"] for spec in specs]
    assert "test accuracy by training samples" in titles
    assert "best score so far by trial" in titles
    curves = next(spec for spec in specs if spec["title"].endswith("by training samples"))
    assert {row["series"] for row in curves["data"]["values"]} == {
        "knn", "logistic_regression", "naive_bayes"}
    assert all(row["low"] <= row["y"] <= row["high"] for row in curves["data"]["values"])
    for path in static:
        text = path.read_text()
        assert text.startswith("<svg") and "</svg>" in text and "<text" in text
        assert f'href="plots/{path.name}"' in html


def test_the_run_records_what_it_needs_to_be_reproduced(digits_run):
    out = digits_run[0]
    environment = json.loads((out / "run.json").read_text())
    assert environment["seed"] == 1 and len(environment["task_sha256"]) == 64
    assert environment["versions"]["optuna"].startswith("5.")
    assert (out / "task.toml").read_text().startswith("\nname = \"small_digits\"")
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 12 and set(trials["state"]) <= {"complete", "pruned", "fail"}


def test_running_again_reuses_the_trials_and_gives_the_same_leaderboard(digits_run):
    out, _, board_first, second = digits_run
    assert second.returncode == 0, second.stderr
    assert "reused 12 trials finished by earlier runs" in second.stderr
    board_second = pd.read_csv(out / "leaderboard.csv")
    families = board_second[board_second["kind"] == "classical"]
    assert (families["trials_reused"] == 4).all()
    for column in ["family", "cv_mean", "test_accuracy", "test_log_loss", "best_params"]:
        pd.testing.assert_series_equal(board_second[column], board_first[column])


def test_a_csv_file_of_ones_own_runs_end_to_end(tmp_path):
    X, y = make_classification(n_samples=240, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["species"] = np.array(["alpha", "beta", "gamma"])[y]
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "mine.csv", index=False)
    task = tmp_path / "mine.toml"
    task.write_text(f"""
[dataset]
path = "data/mine.csv"
target = "species"
[families]
include = ["rbf_svm", "random_forest"]
[families.random_forest]
n_trials = 2
[search]
n_trials = 3
cv_folds = 3
[output]
dir = "{(tmp_path / 'out').as_posix()}"
""")
    result = run_cli(str(task))
    assert result.returncode == 0, result.stderr
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert set(board["family"]) == {"rbf_svm", "random_forest", "ensemble"}
    assert board["test_accuracy"].between(0.6, 1.0).all()
    families = board[board["kind"] != "ensemble"]
    trials = families["trials_complete"] + families["trials_pruned"]
    assert dict(zip(families["family"], trials, strict=True)) == {"rbf_svm": 3,
                                                                   "random_forest": 2}
    assert "dataset mine.csv: 192 train / 48 test samples" in result.stderr


def test_a_regression_task_reports_regression_metrics(tmp_path, write_task):
    task = write_task('[dataset]\nname = "diabetes"\n[families]\ninclude = ["ridge", "knn"]\n'
                      '[search]\nn_trials = 3\ncv_folds = 3\n')
    result = run_cli(str(task))
    assert result.returncode == 0, result.stderr
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert {"test_r2", "test_rmse", "test_mae"} <= set(board.columns)
    assert "test_accuracy" not in board.columns
    assert 0.3 < board["test_r2"].max() < 0.7  # diabetes: r2 near 0.45 for good models
    assert board["test_rmse"].between(40, 80).all()


class Hostile:
    """A plugin whose trials fail with HTML in the error message."""

    @staticmethod
    @hookimpl
    def automl_register_models(register):
        def build(params, info, seed, device):
            raise RuntimeError("<script>alert('x')</script> & <b>bold</b>")
        register(ModelFamily("hostile", "deep", frozenset({"classification"}),
                             frozenset({"tabular"}), lambda trial, info: {}, build))


def test_a_family_whose_trials_all_fail_is_listed_with_the_reason_escaped(write_task, tmp_path):
    task = load_task(write_task('[dataset]\nname = "wine"\n[families]\n'
                                'include = ["hostile", "naive_bayes"]\n[search]\nn_trials = 2\n'
                                'cv_folds = 3\n'))
    result = run_task(task, build_registry({"hostile_plugin": Hostile}),
                      progress=Progress(quiet=True))
    row = result.leaderboard.set_index("family").loc["hostile"]
    assert row["trials_failed"] == 2 and np.isnan(row["test_accuracy"])
    assert row["note"].startswith("every trial failed: RuntimeError: <script>")
    assert result.leaderboard.iloc[0]["family"] == "naive_bayes"
    html = (tmp_path / "out" / "index.html").read_text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold" in html
    assert "<script>alert(" not in html and "<b>bold</b>" not in html


def test_help_explains_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "python -m automl tasks/images.toml" in result.stdout
    assert "plugins" in result.stdout and "resume" in result.stdout


def test_a_bad_task_through_the_real_cli_exits_2_without_traceback(write_task):
    task = write_task('[dataset]\nname = "digits"\n[search]\ncv_fold = 3\n')
    result = run_cli(str(task))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "key 'search.cv_fold': unknown key" in result.stderr
    assert "did you mean 'cv_folds'?" in result.stderr


@pytest.mark.slow
def test_the_shipped_images_task_compares_classical_and_deep_families(tmp_path):
    """The README's main command: every family that accepts images, on digits."""
    text = (REPO / "tasks" / "images.toml").read_text()
    task = tmp_path / "images.toml"
    task.write_text(text + f'\n[output]\ndir = "{(tmp_path / "out").as_posix()}"\n')
    result = run_cli(str(task))
    assert result.returncode == 0, result.stderr
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("family")
    assert (board["kind"] == "classical").sum() >= 7
    assert {"mlp", "cnn"} <= set(board.index)
    assert board.loc["cnn", "test_accuracy"] >= 0.985
    assert board["test_accuracy"].max() >= 0.98
    assert board.loc["cnn", "compile_s"] > 0 and board.loc["cnn", "n_params"] > 0
    assert 1 <= board.loc["cnn", "depth"] <= 6


def test_every_table_is_written_as_csv_and_parquet(digits_run):
    out = digits_run[0]
    for name in ("leaderboard", "trials", "predictions", "seed_scores", "comparison"):
        csv = pd.read_csv(out / f"{name}.csv")
        assert csv.shape == pd.read_parquet(out / f"{name}.parquet").shape
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 360
    assert {"row", "y_true", "knn", "logistic_regression", "naive_bayes"} <= set(predictions)


def test_the_two_best_families_are_compared_over_seeds(digits_run):
    out, _, board, _ = digits_run
    comparison = pd.read_csv(out / "comparison.csv")
    pairs = comparison[comparison["family_a"] != "ensemble"]  # the blend's own test aside
    assert len(pairs) == 1 and len(comparison) <= 2
    pair = pairs.iloc[0]
    families = board[board["kind"] != "ensemble"]
    assert {pair["family_a"], pair["family_b"]} == set(families["family"].iloc[:2])
    assert pair["seeds"] == 5 and 0.9 < pair["mean_a"] <= 1
    assert pair["low_a"] <= pair["mean_a"] <= pair["high_a"]
    assert np.isnan(pair["p_value"]) or 0 <= pair["p_value"] <= 1
    html = (out / "index.html").read_text()
    for section in ("Is the difference real?", "Where they fail", "Search",
                    "Reproducibility"):
        assert section in html
    assert "paired t-test" in html and "data:image/png;base64," in html


def test_the_report_is_rebuilt_from_the_folder_without_training(digits_run):
    out = digits_run[0]
    journal = (out / "optuna.journal").stat().st_size
    (out / "index.html").unlink()
    result = run_cli("report", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "index.html").is_file() and "knn" in (out / "index.html").read_text()
    assert (out / "optuna.journal").stat().st_size == journal  # no trial ran


def test_report_of_a_folder_that_is_no_run_is_a_clear_error(tmp_path):
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not the output folder of a run: run.json is missing" in result.stderr


def test_class_names_with_html_appear_as_text(tmp_path, write_task):
    X, y = make_classification(n_samples=120, n_features=4, n_informative=3,
                               n_redundant=0, random_state=1)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["label"] = np.array(["<script>alert('x')</script>", "<b>bold</b>"])[y]
    frame.to_csv(tmp_path / "hostile.csv", index=False)
    task = write_task('[dataset]\npath = "hostile.csv"\ntarget = "label"\n[families]\n'
                      'include = ["knn", "naive_bayes"]\n[search]\nn_trials = 2\ncv_folds = 3\n'
                      '[report]\nseeds = 2\n')
    result = run_cli(str(task))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script>alert(" not in html and "<b>bold</b>" not in html


def test_learning_curves_retrain_each_family_on_growing_shares(digits_run):
    out = digits_run[0]
    curves = pd.read_csv(out / "learning_curves.csv")
    assert len(curves) == 3 * 5 * 3  # families x shares x seeds
    assert sorted(curves["share"].unique()) == [0.05, 0.1, 0.25, 0.5, 1.0]
    means = curves.groupby(["family", "n_train"])["score"].mean().unstack(0)
    assert list(means.index) == sorted(means.index) and means.index[-1] == 1437
    assert (means.iloc[-1] > means.iloc[0]).all()  # more data helps every family here
    assert "How much data does each family need?" in (out / "index.html").read_text()
