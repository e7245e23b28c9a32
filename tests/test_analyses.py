"""Analyses are registered units: a plugin's analysis runs in a real run as the built-in
ones do, declares its [report] keys (checked before anything is computed), writes its
tables beside the leaderboard for report sections, and a broken one loses nothing."""

import time

import pandas as pd
import pytest

import automl
from automl.analyses.stage import _share_end
from automl.api.errors import PluginError, TaskFileError
from automl.engine.outputs import read_record
from automl.engine.plugins import build_registry
from automl.engine.run import run_task
from automl.engine.task import analysis_options, check_plugin_names, load_task
from automl.fitting.budget import StageCutoff, TimePlan

TASK = """\
[dataset]
name = "iris"
[families]
include = ["logistic_regression", "naive_bayes"]
[search]
n_trials = 2
cv_folds = 3
[report]
seeds = 0
learning_curve = []
importances = false
"""


def gap_table(context):
    """Per family with a model: its validation mean, its test score and the gap, the
    slowest fit first (the `slowest` option says how many rows)."""
    rows = [{"family": r.outcome.family.name, "cv_mean": r.outcome.best_trial.value,
             "test": r.test.scores[context.metric.name]}
            for r in context.results if r.test is not None]
    table = pd.DataFrame(rows).assign(gap=lambda t: t.cv_mean - t.test)
    return {"gaps": table.head(context.options["gap_rows"])}


class GapPlugin:
    @automl.hookimpl
    def automl_register_analyses(register):
        register(automl.Analysis(
            name="gaps", title="validation-test gap", run=gap_table,
            tables={"gaps": ["family", "cv_mean", "test", "gap"]}, switch="gaps",
            options={"gaps": automl.Option(bool, "Measure the gaps.", default=True),
                     "gap_rows": automl.Option(int, "Rows shown.", default=10, minimum=1)},
            task_types=frozenset({"classification"}), cost=0))


def registry_with(plugin, problems=None):
    return build_registry({"gap_plugin": plugin},
                          on_problem=(problems.append if problems is not None
                                      else lambda problem: None))


def test_a_plugins_analysis_runs_writes_its_table_and_reads_back(write_task, tmp_path):
    task = load_task(write_task(TASK + "gap_rows = 1\n"))
    result = run_task(task, registry_with(GapPlugin))
    gaps = pd.read_csv(tmp_path / "out" / "gaps.csv")
    assert len(gaps) == 1 and gaps.family[0] in {"logistic_regression", "naive_bayes"}
    assert 0.5 <= gaps.test[0] <= 1 and gaps.gap[0] == pytest.approx(
        gaps.cv_mean[0] - gaps.test[0])
    assert "analyses: validation-test gap" in result.record.run.stage_seconds
    # a built-in analysis switched off writes its table empty, with its columns
    explained = pd.read_csv(tmp_path / "out" / "explanations.csv")
    assert explained.empty and {"family", "method", "feature"} <= set(explained.columns)
    assert read_record(tmp_path / "out").tables["gaps"].equals(gaps)


def test_a_switched_off_analysis_writes_its_columns_and_no_rows(write_task, tmp_path):
    task = load_task(write_task(TASK + "gaps = false\n"))
    run_task(task, registry_with(GapPlugin))
    gaps = pd.read_csv(tmp_path / "out" / "gaps.csv")
    assert gaps.empty and list(gaps.columns) == ["family", "cv_mean", "test", "gap"]


@pytest.mark.parametrize(("line", "message"), [
    ("gap_rows = 0\n", "invalid value"),
    ("gap_row = 3\n", "did you mean 'gap_rows'"),
    ("learning_curve = [0.5, 1.5]\n", "a list of numbers > 0 and <= 1"),
])
def test_an_analysis_key_is_checked_before_anything_runs(write_task, line, message):
    task = load_task(write_task(TASK.replace("learning_curve = []\n", "") + line))
    with pytest.raises(TaskFileError) as raised:
        check_plugin_names(task, registry_with(GapPlugin))
    assert message in str(raised.value) and "report." in str(raised.value)
    assert raised.value.line is not None


def test_a_key_of_an_analysis_whose_plugin_is_not_loaded_is_unknown(write_task, registry):
    task = load_task(write_task(TASK + "gap_rows = 3\n"))
    with pytest.raises(TaskFileError, match="unknown key"):
        analysis_options(task, registry)


class Broken:
    @automl.hookimpl
    def automl_register_analyses(register):
        register(automl.Analysis(name="broken", title="broken", tables={"broken": ["x"]},
                                 run=lambda context: 1 / 0))
        register(automl.Analysis(name="undeclared", title="undeclared",
                                 tables={"declared": ["x"]},
                                 run=lambda context: {"other": pd.DataFrame()}))


def test_an_analysis_that_raises_is_reported_and_the_run_goes_on(write_task, tmp_path):
    problems = []
    task = load_task(write_task(TASK))
    result = run_task(task, registry_with(Broken, problems))
    assert {"leaderboard", "broken", "declared"} <= set(result.record.tables)
    assert result.record.tables["broken"].empty
    text = "\n".join(map(str, problems))
    assert "analysis 'broken' raised ZeroDivisionError" in text
    assert "returned 'other'" in text and "not one of its declared tables" in text
    assert (tmp_path / "out" / "index.html").is_file()


def test_strict_makes_a_raising_analysis_an_error(write_task):
    registry = build_registry({"broken": Broken}, strict=True)
    with pytest.raises(PluginError, match="analysis 'broken' raised"):
        run_task(load_task(write_task(TASK)), registry)


@pytest.mark.parametrize(("analysis", "problem"), [
    (dict(tables={"leaderboard": ["x"]}), "one of the engine's own"),
    (dict(options={"seeds": automl.Option(int, "s")}), "the engine's own [report] keys"),
    (dict(switch="on", options={"on": automl.Option(int, "n")}), "must be one of its boolean"),
    (dict(tables={}), "must name at least one table"),
    (dict(cost=-1), "cost must be a number >= 0"),
])
def test_an_invalid_analysis_is_left_out_with_its_problem(analysis, problem):
    class Invalid:
        @automl.hookimpl
        def automl_register_analyses(register):
            register(automl.Analysis(**{"name": "bad", "title": "bad", "run": print,
                                        "tables": {"bad": ["x"]}, **analysis}))
    problems = []
    registry = registry_with(Invalid, problems)
    assert "bad" not in registry.analyses
    assert problem in str(problems[0])


def test_a_key_or_table_another_analysis_declares_stays_with_the_first_loaded():
    class Clashing:
        @automl.hookimpl
        def automl_register_analyses(register):
            register(automl.Analysis(
                name="curves_again", title="curves", run=print,
                tables={"mine": ["x"]},
                options={"curve_seeds": automl.Option(int, "seeds")}))
    problems = []
    registry = registry_with(Clashing, problems)
    assert "curves_again" not in registry.analyses
    assert "learning_curves" in registry.analyses
    assert "[report] key 'curve_seeds'" in str(problems[0])
    assert "plugin 'analyses'" in str(problems[0])


def test_each_analysis_may_use_its_cost_share_of_what_the_stage_has_left():
    plan = TimePlan(100.0, started=time.monotonic() - 70.0)  # analyses end at 92 s
    cheap, dear = (automl.Analysis(name=n, title=n, run=print, tables={n: ["x"]}, cost=c)
                   for n, c in (("cheap", 1), ("dear", 3)))
    ends = _share_end(plan, cheap, [cheap, dear]) - time.monotonic()
    assert 5.0 < ends < 5.6  # a quarter of the 22 s left
    assert _share_end(plan, dear, [dear]) - time.monotonic() == pytest.approx(22, abs=0.5)
    assert _share_end(TimePlan(None), cheap, [cheap]) is None
    notes = []
    cutoff = StageCutoff(plan, "analyses", time.monotonic() - 1, notes)
    assert cutoff.reached("the gaps") and cutoff.reached("the gaps")
    assert notes == ["the gaps cut short at its share of the time limit's analyses stage "
                     f"({plan.elapsed():.0f} s)"]
    assert not StageCutoff(plan, "analyses", time.monotonic() + 5).reached("x")


def test_the_kit_passes_a_working_analysis_and_names_what_a_broken_one_lacks():
    from automl.testing import check_analysis
    gaps = automl.Analysis(name="gaps", title="gaps", run=gap_table,
                           tables={"gaps": ["family", "cv_mean", "test", "gap"]},
                           options={"gap_rows": automl.Option(int, "rows", default=5)})
    check_analysis(gaps)
    with pytest.raises(AssertionError, match="did not run"):
        check_analysis(automl.Analysis(name="off", title="off", run=gap_table,
                                       tables={"off": ["x"]}, switch="off", options={
                                           "off": automl.Option(bool, "o", default=False)}))
    with pytest.raises(AssertionError, match="analysis 'raises' raised KeyError"):
        check_analysis(automl.Analysis(name="raises", title="raises", tables={"r": ["x"]},
                                       run=lambda context: context.options["missing"]))
