"""The example third-party plugin, installed the way a user installs one, is found,
searched, compared and reported beside the built-in families."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, run_cli

EXAMPLE = REPO / "examples" / "automl-discriminant"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """The environment with the example package pip-installed into a folder of its own
    (on PYTHONPATH), so the rest of the test session does not see it."""
    target = tmp_path_factory.mktemp("site-packages")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return dict(os.environ, PYTHONPATH=str(target))


def test_the_plugins_command_lists_the_installed_example(plugin_env):
    result = run_cli("plugins", env=plugin_env)
    assert result.returncode == 0, result.stderr
    assert "discriminant (automl-discriminant 0.1.0, automl_discriminant)" in result.stdout
    assert "models: discriminant_analysis" in result.stdout
    assert "report sections: agreement, trial_rate" in result.stdout
    assert "analyses: agreement" in result.stdout


def test_a_task_compares_the_example_family_with_built_in_ones(plugin_env, write_task,
                                                               tmp_path):
    task = write_task('[dataset]\nname = "wine"\n[families]\n'
                      'include = ["discriminant_analysis", "naive_bayes"]\n'
                      '[search]\nn_trials = 4\ncv_folds = 3\n[report]\nseeds = 2\n'
                      'learning_curve = []\n')
    result = run_cli(str(task), env=plugin_env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    board = pd.read_csv(out / "leaderboard.csv").set_index("family")
    assert set(board.index) - {"ensemble"} == {"discriminant_analysis", "naive_bayes"}
    assert board.loc["discriminant_analysis", "test_accuracy"] >= 0.9
    assert board.loc["discriminant_analysis", "trials_complete"] >= 1
    agreement = pd.read_csv(out / "agreement.csv")  # the plugin's analysis
    assert list(agreement[["family_a", "family_b"]].iloc[0]) == ["discriminant_analysis",
                                                                  "naive_bayes"]
    assert 0.7 <= agreement.agreement[0] <= 1 and -1 <= agreement.kappa[0] <= 1
    html = (out / "index.html").read_text()
    assert '<h2 id="section-trial_rate">Trials per second</h2>' in html
    assert '<h2 id="section-agreement">Where the families agree</h2>' in html
    assert "discriminant_analysis and\nnaive_bayes" in html
    assert "Added by plugin discriminant." in html
    log = [json.loads(line) for line in
           (out / "discriminant_trial_log.jsonl").read_text().splitlines()]
    assert len(log) == 8 and {entry["family"] for entry in log} == {
        "discriminant_analysis", "naive_bayes"}


def test_the_example_passes_the_conformance_kit_from_its_own_tests(plugin_env):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True, text=True, env=plugin_env, cwd=EXAMPLE, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "11 passed" in result.stdout
