"""A deliberately broken third-party distribution, installed for real (a dist-info on
PYTHONPATH): each way a plugin can fail is reported by name with its reason, and the run
finishes with the other plugins, unless --strict is given."""

import os
import textwrap

import pandas as pd
import pytest
from conftest import run_cli

FAMILY = """
from automl import ModelFamily, hookimpl

def family(name, fit):
    class Estimator:
        def get_params(self, deep=True):
            return {}
        def fit(self, X, y):
            fit()
            return self
        def predict(self, X):
            return X[:, 0] * 0
    return ModelFamily(name, "classical", frozenset({"classification"}),
                       frozenset({"tabular"}), lambda trial, info: {},
                       lambda params, info, seed, device: Estimator())
"""

MODULES = {
    "import_fails": "import a_module_that_is_not_there\n",
    "wrong_signature": """
        from automl import hookimpl

        @hookimpl
        def automl_register_models(register, config):
            pass
        """,
    "duplicate": FAMILY + """
@hookimpl
def automl_register_models(register):
    register(family("knn", lambda: None))
""",
    "fit_raises": FAMILY + """
def explode():
    raise RuntimeError("the GPU caught fire")

@hookimpl
def automl_register_models(register):
    register(family("fragile", explode))
""",
    "observer_raises": """
        from automl import hookimpl

        @hookimpl
        def automl_trial_finished(trial):
            raise ValueError("dashboard unreachable")
        """,
    "section_raises": """
        from automl import ReportSection, hookimpl

        def render(record):
            raise KeyError("no_such_table")

        @hookimpl
        def automl_register_report_sections(register):
            register(ReportSection("broken_section", "A broken section", render))
        """,
}


@pytest.fixture(scope="module")
def broken_env(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    dist = site / "broken_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugins\n"
                                   "Version: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[automl]\n" + "".join(f"{name} = broken_{name}\n" for name in MODULES))
    for name, source in MODULES.items():
        (site / f"broken_{name}.py").write_text(textwrap.dedent(source))
    return dict(os.environ, PYTHONPATH=str(site))


TASK = ('[dataset]\nname = "wine"\n[families]\ninclude = ["fragile", "naive_bayes"]\n'
        '[search]\nn_trials = 3\ncv_folds = 3\n[report]\nseeds = 2\nlearning_curve = []\n')


def test_each_broken_plugin_is_named_with_its_reason_and_the_run_finishes(
        broken_env, write_task, tmp_path):
    result = run_cli(str(write_task(TASK)), env=broken_env)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "Traceback" not in err
    assert ("warning: plugin 'import_fails': skipped: failed to import: "
            "ModuleNotFoundError: No module named 'a_module_that_is_not_there'") in err
    assert ("warning: plugin 'wrong_signature': skipped: automl_register_models(register, "
            "config) takes 'config', which the hook does not pass") in err
    assert ("warning: plugin 'duplicate': registers the model name 'knn' that plugin "
            "'sklearn' registered first") in err
    assert ("warning: plugin 'observer_raises': automl_trial_finished raised ValueError: "
            "dashboard unreachable") in err
    assert ("warning: plugin 'section_raises': report section 'broken_section' raised "
            "KeyError: 'no_such_table'") in err
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("family")
    assert board.loc["fragile", "trials_failed"] == 3
    assert board.loc["fragile", "note"].startswith(
        "every trial failed: RuntimeError: the GPU caught fire")
    assert board.loc["naive_bayes", "test_accuracy"] > 0.9
    html = (tmp_path / "out" / "index.html").read_text()
    assert "A broken section" in html
    assert "This section could not be drawn: KeyError: &#39;no_such_table&#39;" in html


def test_strict_stops_at_the_first_plugin_problem(broken_env, write_task, tmp_path):
    result = run_cli(str(write_task(TASK)), "--strict", env=broken_env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: plugin 'import_fails': skipped: failed to import" in result.stderr
    assert "without --strict the run goes on without it" in result.stderr
    assert not (tmp_path / "out" / "leaderboard.csv").exists()


def test_blocked_plugins_are_not_loaded(broken_env, write_task):
    blocked = "import_fails,wrong_signature,duplicate,observer_raises,section_raises"
    result = run_cli(str(write_task(TASK + '[plugins]\nblock = ["fit_raises"]\n')),
                     "--strict", env=dict(broken_env, AUTOML_PLUGINS_BLOCK=blocked))
    # fit_raises is blocked too, so its family is unknown
    assert result.returncode == 2
    assert "unknown model family 'fragile'" in result.stderr


def test_allow_limits_third_party_plugins(broken_env, write_task, tmp_path):
    task = write_task(TASK + '[plugins]\nallow = ["fit_raises"]\n')
    result = run_cli(str(task), "--strict", env=broken_env)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


def test_a_misspelt_plugin_name_in_block_is_a_clear_error(broken_env, write_task):
    result = run_cli(str(write_task(TASK + '[plugins]\nblock = ["fit_raise"]\n')),
                     env=broken_env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "key 'plugins.block': no installed plugin is named 'fit_raise'" in result.stderr
    assert "did you mean 'fit_raises'" in result.stderr
    result = run_cli(str(write_task(TASK)), env=dict(broken_env,
                                                     AUTOML_PLUGINS_BLOCK="sklearnn"))
    assert result.returncode == 2
    assert ("environment variable AUTOML_PLUGINS_BLOCK: no installed plugin is named "
            "'sklearnn'") in result.stderr


def test_hook_calls_can_be_traced(broken_env, write_task):
    result = run_cli(str(write_task(TASK + '[plugins]\nallow = ["fit_raises"]\n')),
                     "--trace-hooks", "--quiet", env=broken_env)
    assert result.returncode == 0, result.stderr
    assert "trace: automl_register_models(register) -> plugin 'fit_raises'" in result.stderr
    assert "trace: automl_run_finished" not in result.stderr  # nobody implements it
