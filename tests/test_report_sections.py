"""Report sections, built-in and a plugin's alike: registered through one hook, placed by
their order, rendered from template text with autoescaping or from explicit Markup."""

import pytest
from conftest import run_cli
from markupsafe import Markup

from automl import ReportSection, hookimpl
from automl.engine.outputs import read_record
from automl.engine.plugins import build_registry
from automl.report.page import write_html_report

TASK = """
name = "sections"
seed = 3
[dataset]
name = "wine"
[families]
include = ["knn", "naive_bayes"]
[search]
n_trials = 2
cv_folds = 3
[report]
seeds = 2
learning_curve = [1.0]
curve_seeds = 1
"""
HOSTILE = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sections")
    task = folder / "task.toml"
    task.write_text(TASK + f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
    result = run_cli(str(task), "--quiet")
    assert result.returncode == 0, result.stderr
    return read_record(folder / "out")


class Sections:
    """A plugin with one section of each kind the API allows (and one it does not)."""

    @staticmethod
    @hookimpl
    def automl_register_report_sections(register):
        register(ReportSection(
            "template_text", "Plain text",
            lambda context: "<p id='text'>{{ run.task }} by " + HOSTILE + "</p>",
            order=150))
        register(ReportSection(
            "own_values", "Own values",
            lambda context: context.render(
                "<p id='values'>{{ name }}: {{ '%.2f' | format(best) }} "
                "({{ context.direction(metric) }})</p>", name=HOSTILE,
                best=context.leaderboard.iloc[0]["test_accuracy"])))
        register(ReportSection("markup", "Markup",
                               lambda context: Markup("<p id='markup'><b>bold</b></p>")))
        register(ReportSection("nothing", "Nothing to show", lambda context: None))
        register(ReportSection("wrong_type", "Wrong type", lambda context: 42))


def test_the_built_in_sections_come_through_the_hook_as_the_report_plugin(registry):
    assert [name for name, entry in registry.report_sections.items()
            if entry.plugin == "report"] == [
        "data", "leaderboard", "cost", "shipping", "learning_curves", "more_data",
        "more_search", "depth", "features", "looks_at", "significance", "subgroups",
        "together", "failures", "search", "best_parameters", "reproducibility"]


def test_plugin_sections_are_escaped_placed_by_order_and_checked(record, tmp_path):
    problems = []
    registry = build_registry({"sections": Sections}, on_problem=problems.append)
    html = write_html_report(record, tmp_path, registry).read_text()
    # a str: text, escaped, never read as a template
    assert ("&lt;p id=&#39;text&#39;&gt;{{ run.task }} by &lt;script&gt;alert(&#39;x&#39;)"
            "&lt;/script&gt;&lt;/p&gt;") in html
    assert HOSTILE not in html
    # values of its own, rendered through the context: escaped, with the metric's direction
    assert "<p id='values'>&lt;script&gt;" in html and "(maximize)</p>" in html
    # Markup: as it is
    assert "<p id='markup'><b>bold</b></p>" in html
    # None: no section at all; a wrong type: the reason, and the plugin's problem
    assert "Nothing to show" not in html
    assert "This section could not be drawn: render returned int" in html
    assert [str(p) for p in problems] == [
        "plugin 'sections': report section 'wrong_type': render returned int, not text or "
        "Markup"]
    # order 150 puts it between Data (100) and Leaderboard (200); the default, after the
    # built-in sections and before Reproducibility (2000)
    headings = [html.index(f'id="section-{name}"') for name in (
        "data", "template_text", "leaderboard", "best_parameters", "own_values",
        "reproducibility")]
    assert headings == sorted(headings)
    assert "Added by plugin sections." in html


def test_an_invalid_order_is_refused_at_registration():
    section = ReportSection("odd", "Odd", lambda context: "", order="first")
    assert section.problems() == ["order must be an integer, not 'first'"]


PAYLOAD = ("{{ cycler.__init__.__globals__.os.system('touch %s') }}"
           "{{ ''.__class__.__mro__[1].__subclasses__() }}")


def test_a_column_name_formatted_into_a_section_runs_nothing(record, tmp_path):
    """A plugin that formats data (here a hostile column name) into what it returns: as a
    str it is shown as text; through context.render the sandbox refuses Python's
    internals, and the section says it could not be drawn. The payload's marker file is
    never made."""
    marker = tmp_path / "ran"
    column = PAYLOAD % marker

    class Careless:
        @staticmethod
        @hookimpl
        def automl_register_report_sections(register):
            register(ReportSection("as_text", "As text", lambda context: f"column {column}"))
            register(ReportSection("as_template", "As template",
                                   lambda context: context.render(f"<p>{column}</p>")))

    registry = build_registry({"careless": Careless}, on_problem=lambda problem: None)
    html = write_html_report(record, tmp_path, registry).read_text()
    assert not marker.exists()
    assert "column {{ cycler.__init__.__globals__.os.system(" in html
    assert "This section could not be drawn: SecurityError" in html
