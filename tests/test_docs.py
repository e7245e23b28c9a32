"""The task file reference is generated from the declared options and kept up to date."""

from pathlib import Path

from automl.docs import task_file_reference

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_task_file_reference_is_up_to_date(registry):
    written = (DOCS / "task-file.md").read_text()
    assert written == task_file_reference(registry), (
        "docs/task-file.md is stale: run `python -m automl.docs > docs/task-file.md`")


def test_every_key_and_loader_option_is_documented(registry):
    from automl.engine.task import SECTIONS, TOP_LEVEL
    written = (DOCS / "task-file.md").read_text()
    for key in TOP_LEVEL:
        assert f"`{key}`" in written
    for section, options in SECTIONS.items():
        for key in options:
            assert f"`{section}.{key}`" in written
    for name, entry in registry.datasets.items():
        assert f"`{name}`" in written
        for key in entry.item.options:
            assert f"`dataset.{key}`" in written


def test_the_hook_reference_documents_every_public_name():
    """Every name `automl` exports has its entry (tests/test_hookspecs.py checks that
    docs/hooks.md is the one generated from the code)."""
    import automl
    written = (DOCS / "hooks.md").read_text()
    for name in automl.__all__:
        assert f"### `automl.{name}" in written, f"automl.{name} is not in docs/hooks.md"


def test_a_public_name_without_a_docstring_fails_the_reference(monkeypatch):
    import pytest

    import automl
    from automl.docs import Undocumented, hook_reference

    class Silent:
        pass

    monkeypatch.setattr(automl, "Silent", Silent, raising=False)
    monkeypatch.setattr(automl, "__all__", [*automl.__all__, "Silent"])
    with pytest.raises(Undocumented, match="automl.Silent has no docstring"):
        hook_reference()
