"""The plugin API is documented: every hook has a docstring covering its arguments."""

import inspect

from automl.api import hookspecs


def hooks():
    return [obj for name, obj in vars(hookspecs).items()
            if name.startswith("automl_") and inspect.isfunction(obj)]


def test_there_are_registration_hooks_for_models_datasets_and_metrics():
    names = {hook.__name__ for hook in hooks()}
    assert {"automl_register_models", "automl_register_datasets",
            "automl_register_metrics"} <= names


def test_every_hook_has_a_docstring_naming_each_argument_and_when_it_is_called():
    for hook in hooks():
        doc = inspect.getdoc(hook)
        assert doc and len(doc) > 80, f"{hook.__name__} has no real docstring"
        for argument in inspect.signature(hook).parameters:
            assert f"{argument}:" in doc, f"{hook.__name__} does not document '{argument}'"
        assert "Called" in doc, f"{hook.__name__} does not say when it is called"


def test_the_hook_reference_is_up_to_date_and_names_every_hook():
    from pathlib import Path

    from automl.docs import hook_reference
    written = (Path(__file__).resolve().parents[1] / "docs" / "hooks.md").read_text()
    assert written == hook_reference(), (
        "docs/hooks.md is stale: run `python -m automl.docs hooks > docs/hooks.md`")
    for hook in hooks():
        assert f"### `{hook.__name__}(" in written


def test_observer_and_report_hooks_exist():
    names = {hook.__name__ for hook in hooks()}
    assert {"automl_register_report_sections", "automl_trial_finished",
            "automl_run_finished"} <= names
