"""Plugins are found through entry points, checked, and attributed to who registered them."""

import os
import sys
from types import SimpleNamespace

import pluggy
import pytest
from conftest import run_cli

from automl import ModelFamily, hookimpl
from automl.api import hookspecs
from automl.api.errors import PluginError
from automl.engine.plugins import build_registry

BUILT_IN_FAMILIES = {"logistic_regression", "ridge", "linear_svm", "rbf_svm", "knn",
                     "random_forest", "extra_trees", "hist_gradient_boosting", "naive_bayes"}


def test_built_in_plugins_come_through_the_entry_point_group(registry):
    names = {plugin.name for plugin in registry.plugins}
    assert {"sklearn", "datasets", "metrics"} <= names
    assert all(p.distribution == "automl" for p in registry.plugins
               if p.name in {"sklearn", "datasets", "metrics"})
    assert BUILT_IN_FAMILIES <= set(registry.models)
    assert registry.models["rbf_svm"].plugin == "sklearn"
    assert {"digits", "breast_cancer", "wine", "mnist1d", "csv", "parquet", "npz",
            "image_folder"} <= set(registry.datasets)
    assert registry.datasets["digits"].plugin == "datasets"
    assert {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"} <= set(
        registry.metrics)


def _family(name):
    return ModelFamily(name=name, kind="classical", task_types=frozenset({"classification"}),
                       input_kinds=frozenset({"tabular"}), search_space=lambda t, i: {},
                       build=lambda p, i, s, d: None)


class DuplicateKnn:
    @staticmethod
    @hookimpl
    def automl_register_models(register):
        register(_family("knn"))


def test_a_second_plugin_registering_a_name_is_left_out_with_both_named():
    problems = []
    registry = build_registry({"my_plugin": DuplicateKnn}, on_problem=problems.append)
    assert registry.models["knn"].plugin == "sklearn"  # the first registration is kept
    assert [p.plugin for p in problems] == ["my_plugin"]
    assert "registers the model name 'knn' that plugin 'sklearn' registered first" in str(
        problems[0])


def test_strict_makes_a_duplicate_name_an_error_naming_both():
    with pytest.raises(PluginError) as caught:
        build_registry({"my_plugin": DuplicateKnn}, strict=True)
    message = caught.value.message()
    assert "'sklearn'" in message and "'my_plugin'" in message and "'knn'" in message
    assert "without --strict the run goes on without it" in message


class BadName:
    @staticmethod
    @hookimpl
    def automl_register_models(register):
        register(_family("Not A Name"))
        register(_family("good_one"))


def test_an_invalid_registration_names_the_plugin_and_the_problem():
    problems = []
    registry = build_registry({"bad": BadName}, entry_points=False, on_problem=problems.append)
    assert "registered an invalid ModelFamily 'Not A Name'" in str(problems[0])
    assert str(problems[0]).startswith("plugin 'bad': ")
    assert list(registry.models) == ["good_one"]  # its valid registration stays


class NotAFamily:
    @staticmethod
    @hookimpl
    def automl_register_models(register):
        register("rbf_svm")


def test_registering_the_wrong_type_is_reported():
    with pytest.raises(PluginError, match="registered something that is not a ModelFamily"):
        build_registry({"wrong": NotAFamily}, entry_points=False, strict=True)


class WrongSignature:
    @staticmethod
    @hookimpl
    def automl_register_models(register, options):
        raise AssertionError("never called")


class MisspeltHook:
    @staticmethod
    @hookimpl
    def automl_register_model(register):
        raise AssertionError("never called")


class Unmarked:
    @staticmethod
    def automl_register_models(register):
        raise AssertionError("never called")


class RaisesWhileRegistering:
    @staticmethod
    @hookimpl
    def automl_register_models(register):
        raise RuntimeError("no licence file")


@pytest.mark.parametrize(("plugin", "problem"), [
    (WrongSignature, "skipped: automl_register_models(register, options) takes 'options', "
                     "which the hook does not pass; it passes register"),
    (MisspeltHook, "skipped: 'automl_register_model' is marked @automl.hookimpl but is not a "
                   "hook (did you mean 'automl_register_models'"),
    (Unmarked, "skipped: automl_register_models is not marked @automl.hookimpl, so it would "
               "never be called"),
    (RaisesWhileRegistering, "automl_register_models raised RuntimeError: no licence file"),
], ids=["wrong-signature", "misspelt-hook", "unmarked-hook", "raises"])
def test_a_broken_plugin_is_reported_by_name_and_the_others_load(plugin, problem):
    problems = []
    registry = build_registry({"broken": plugin}, on_problem=problems.append)
    assert len(problems) == 1, problems
    assert str(problems[0]).startswith("plugin 'broken': ") and problem in str(problems[0])
    assert "rbf_svm" in registry.models


class Observer:
    seen: list = []

    @staticmethod
    @hookimpl
    def automl_trial_finished(family, trial):  # a subset of the hook's arguments
        Observer.seen.append((family, trial))


def test_hooks_are_called_with_the_keyword_arguments_the_plugin_asks_for(capsys):
    registry = build_registry({"observer": Observer}, entry_points=False, trace=True)
    registry.notify("automl_trial_finished", task="t", family="knn", trial=7)
    assert Observer.seen == [("knn", 7)]
    trace = capsys.readouterr().err
    assert "trace: automl_trial_finished(family, trial) -> plugin 'observer'" in trace


def test_allow_and_block_choose_plugins_by_name():
    registry = build_registry({"my_plugin": DuplicateKnn}, block=["flax", "my_plugin"])
    assert "mlp" not in registry.models and registry.models["knn"].plugin == "sklearn"
    blocked = {p.name for p in registry.plugins if p.blocked}
    assert blocked == {"flax", "my_plugin"}
    registry = build_registry({"my_plugin": DuplicateKnn}, allow=[])
    assert "mlp" in registry.models  # built-in plugins are always allowed
    assert [p.name for p in registry.plugins if p.blocked] == ["my_plugin"]


@pytest.fixture
def broken_plugin_path(tmp_path):
    """A real installed distribution whose `automl` entry point fails to import."""
    dist = tmp_path / "broken_automl_plugin-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-automl-plugin\n"
                                   "Version: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[automl]\nbroken = broken_automl_module\n")
    (tmp_path / "broken_automl_module.py").write_text("import a_module_that_is_not_there\n")
    return tmp_path


def test_a_plugin_that_fails_to_import_is_reported_by_name_and_skipped(broken_plugin_path):
    sys.path.insert(0, str(broken_plugin_path))
    try:
        registry = build_registry()
    finally:
        sys.path.remove(str(broken_plugin_path))
    broken = [p for p in registry.plugins if p.name == "broken"]
    assert broken and "ModuleNotFoundError" in broken[0].error
    assert broken[0].version == "1.2.3"
    assert "rbf_svm" in registry.models  # the others still load


def test_plugins_command_lists_versions_registrations_and_broken_plugins(broken_plugin_path):
    env = dict(os.environ, PYTHONPATH=str(broken_plugin_path))
    result = run_cli("plugins", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sklearn (automl 0.1.0" in out
    assert "models: extra_trees, hist_gradient_boosting, knn" in out
    assert "datasets: breast_cancer, csv" in out
    assert "metrics: accuracy" in out
    assert "broken (broken-automl-plugin 1.2.3" in out
    assert "problem: skipped: failed to import: ModuleNotFoundError" in out


def order_plugin(label: str, calls: list, **marks):
    """A plugin observing trials, recording `label` when called (marked as `marks` say)."""
    if marks.get("wrapper"):
        def automl_trial_finished(trial):
            calls.append(f"{label} before")
            result = yield
            calls.append(f"{label} after")
            return result
    else:
        def automl_trial_finished(trial):
            calls.append(label)
    return SimpleNamespace(automl_trial_finished=hookimpl(**marks)(automl_trial_finished))


def test_hooks_are_called_in_pluggys_order_with_wrappers_around_the_rest(capsys):
    """tryfirst first, then the plugin loaded last first, trylast last, and wrappers around
    them all (the last loaded outermost), exactly as pluggy's own call would order them;
    the trace comes from pluggy's hook-call monitoring."""
    calls: list[str] = []
    plugins = {"early": order_plugin("early", calls),
               "first": order_plugin("first", calls, tryfirst=True),
               "last": order_plugin("last", calls, trylast=True),
               "late": order_plugin("late", calls),
               "outer": order_plugin("outer", calls, wrapper=True),
               "inner": order_plugin("inner", calls, wrapper=True, trylast=True)}
    registry = build_registry(plugins, entry_points=False, trace=True)
    registry.notify("automl_trial_finished", task="t", family="knn", trial=1)
    assert calls == ["outer before", "inner before", "first", "late", "early", "last",
                     "inner after", "outer after"]
    # pluggy's own call of the same implementations gives the same order
    calls.clear()
    plain = pluggy.PluginManager("automl")
    plain.add_hookspecs(hookspecs)
    for name, plugin in plugins.items():
        plain.register(plugin, name=name)
    plain.hook.automl_trial_finished(task="t", family="knn", trial=1)
    assert calls == ["outer before", "inner before", "first", "late", "early", "last",
                     "inner after", "outer after"]
    trace = capsys.readouterr().err.splitlines()
    assert trace[:2] == ["trace: automl_trial_finished(trial) -> plugin 'outer' [wrapper]",
                         "trace: automl_trial_finished(trial) -> plugin 'inner' "
                         "[wrapper, trylast]"]
    assert trace[-1].startswith("trace: automl_trial_finished took ")


def test_a_wrapper_that_raises_is_reported_and_the_others_still_run():
    calls: list[str] = []

    def automl_trial_finished(trial):
        yield
        raise RuntimeError("teardown broke")

    broken = SimpleNamespace(automl_trial_finished=hookimpl(wrapper=True)(
        automl_trial_finished))
    problems = []
    registry = build_registry({"plain": order_plugin("plain", calls), "broken": broken},
                              entry_points=False, on_problem=problems.append)
    registry.notify("automl_trial_finished", task="t", family="knn", trial=1)
    assert calls == ["plain"]
    assert [str(p) for p in problems] == [
        "plugin 'broken': automl_trial_finished raised RuntimeError: teardown broke"]


@pytest.mark.parametrize("marks,problem", [
    ({"hookwrapper": True}, "uses hookwrapper=True, pluggy's old-style wrapper"),
    ({"wrapper": True}, "is marked wrapper=True but is not a generator function"),
], ids=["old-style-wrapper", "wrapper-without-yield"])
def test_wrappers_automl_cannot_call_are_refused_at_registration(marks, problem):
    plugin = SimpleNamespace(automl_trial_finished=hookimpl(**marks)(lambda trial: None))
    problems = []
    build_registry({"odd": plugin}, entry_points=False, on_problem=problems.append)
    assert len(problems) == 1 and problem in str(problems[0])


def test_registrations_keep_the_load_order_whatever_order_the_hooks_ran_in():
    """pluggy calls the plugin loaded last first; the families still come in load order
    (built-in plugins first) and a duplicate name stays with the plugin loaded first."""
    registry = build_registry({"my_plugin": DuplicateKnn})
    names = list(registry.models)
    assert names.index("mlp") < names.index("knn")  # flax before sklearn, as loaded
    assert registry.models["knn"].plugin == "sklearn"


def test_a_misspelt_hook_name_fails_loudly(registry):
    """Hooks are called through one method each (registry.run_finished(...)); a name
    that is not a hook of automl.api.hookspecs raises instead of calling nobody."""
    import pytest
    with pytest.raises(ValueError, match="'automl_run_finishd' is not a hook"):
        registry.notify("automl_run_finishd", record=None)
