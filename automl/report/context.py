"""What a report section is given: the run, its tables, and the ways to put a table or a
plot on the page.

Templates are Jinja2 with autoescaping: every value from data, plugins or the task file is
escaped when it is written into the page. The only unescaped values are `Markup` ones,
made here from already escaped parts (tables, plots, rendered templates) or by a plugin
that says so explicitly with ``markupsafe.Markup``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from automl.api.metrics import Metric
from automl.api.results import RunRecord, RunSummary
from automl.report import charts as charts_

HERE = Path(__file__).parent


@functools.cache
def environment() -> jinja2.Environment:
    """The report's templates (``automl/report/templates``), autoescaped, in Jinja2's
    sandbox: a template (a plugin's, through `SectionContext.render`) cannot reach
    Python's internals (``cycler.__init__.__globals__``), which raises SecurityError."""
    return SandboxedEnvironment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                autoescape=True, undefined=jinja2.StrictUndefined)


@functools.cache
def static(name: str) -> Markup:
    """A style sheet or script of ``automl/report/static``, to inline in the page."""
    return Markup((HERE / "static" / name).read_text(encoding="utf-8"))  # noqa: S704 (our packaged file)


class Figures:
    """The plots of one report in page order; each is embedded in the page and written as
    a static SVG."""

    def __init__(self):
        self.charts: list[charts_.Chart] = []

    def add(self, chart: charts_.Chart) -> Markup:
        """The page's markup for `chart`: a div the plot script draws into, its spec, and
        a link to the static image."""
        self.charts.append(chart)
        # "<" escaped so that data containing "</script>" cannot end the script element;
        # the spec is JSON inside a script, where HTML entities would not be decoded.
        spec = Markup(json.dumps(chart.spec).replace("<", "\\u003c"))  # noqa: S704 (JSON, < escaped)
        return render("figure.html", spec_id=f"plot-{len(self.charts)}", spec=spec,
                      slug=chart.slug)


def render(template: str, **values: Any) -> Markup:
    """A template of ``automl/report/templates`` rendered with `values`."""
    return Markup(environment().get_template(template).render(**values))  # noqa: S704 (autoescaped)


def table(frame: pd.DataFrame, *, sortable: bool = False) -> Markup:
    """A DataFrame as an HTML table, every cell escaped; `sortable` ones sort by a column
    when its heading is clicked. Numbers keep their exact value for sorting."""
    columns = [{"name": str(c), "align": _align(frame[c])} for c in frame.columns]
    rows = [[_cell(row[c], frame[c]) for c in frame.columns] for _, row in frame.iterrows()]
    return render("table.html", columns=columns, rows=rows, sortable=sortable)


LONG_TEXT = ("note", "rows_note", "stopped_by")
"""Columns of sentences: given a reading width, not wrapped into a tall narrow column; in
a sortable table (the leaderboard, one line a family) cut to one line, the whole sentence
in the cell's tooltip and in the Search section."""


def _align(column: pd.Series) -> str:
    return "num" if pd.api.types.is_numeric_dtype(column) else "text"


def _cell(value, column: pd.Series) -> dict[str, str]:
    if pd.isna(value):
        shown = sort_key = ""
    elif isinstance(value, float):
        shown, sort_key = f"{value:.4g}", repr(value)
    else:
        shown = sort_key = str(value)
    css = _align(column)
    if column.name == "kind":  # colour classical and deep apart
        css += f" {shown}"
    if column.name in LONG_TEXT:
        css += " long"
    return {"css": css, "key": sort_key, "shown": shown,
            "title": shown if column.name in LONG_TEXT else ""}


@dataclass
class SectionContext:
    """What a section's ``render`` receives.

    Attributes:
        record: the run as stored (`automl.api.results.RunRecord`).
        figures: the report's plots; `plot` adds one.
        metrics: every metric the run reports, by name (`automl.Metric`: its
            ``direction`` says whether higher is better).
    """

    record: RunRecord
    figures: Figures = field(default_factory=Figures)
    metrics: dict[str, Metric] = field(default_factory=dict)

    @property
    def run(self) -> RunSummary:
        """``run.json``, typed (`automl.api.results.RunSummary`)."""
        return self.record.run

    @property
    def leaderboard(self) -> pd.DataFrame:
        """One row per family, best first (``tables["leaderboard"]``)."""
        return self.record.leaderboard

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The run's tables by name, as in its CSV files (see
        `automl.engine.outputs.REQUIRED_TABLES` and `automl.Analysis.tables`); one the run
        did not write reads as empty."""
        return self.record.tables

    @property
    def folder(self) -> Path:
        """The run's output folder, where the report is written."""
        return self.record.folder

    def direction(self, metric: str) -> str:
        """``"maximize"`` or ``"minimize"``: which way `metric` is better."""
        if metric in self.metrics:
            return self.metrics[metric].direction
        if metric == self.run.metric:
            return self.run.metric_direction
        raise KeyError(f"metric {metric!r} is not one this run reports "
                       f"({', '.join(self.run.report_metrics)})")

    def table(self, frame: pd.DataFrame, *, sortable: bool = False) -> Markup:
        """`frame` as an escaped HTML table (see `automl.report.context.table`)."""
        return table(frame, sortable=sortable)

    def plot(self, chart: charts_.Chart) -> Markup:
        """The markup of a plot (`automl.report.charts`), drawn in the page and written
        as a static SVG beside it."""
        return self.figures.add(chart)

    def variables(self) -> dict[str, Any]:
        """What a section's template text can use: ``run``, ``record``, ``leaderboard``,
        ``tables``, ``metric`` (the optimised metric's name) and the functions ``table``
        and ``plot``."""
        return {"context": self, "run": self.run, "record": self.record,
                "leaderboard": self.leaderboard, "tables": self.tables,
                "metric": self.run.metric, "table": self.table, "plot": self.plot}

    def render(self, text: str, **values: Any) -> Markup:
        """Template text rendered, autoescaped and sandboxed, with `variables` and
        `values`: what a section returns to show values of its own. `text` is the
        plugin's constant; data go in as `values`, never formatted into `text`."""
        template = environment().from_string(text)
        return Markup(template.render(**self.variables(), **values))  # noqa: S704 (autoescaped, sandboxed)

    def template(self, name: str, **values: Any) -> Markup:
        """A template of ``automl/report/templates`` rendered like `render`."""
        return Markup(environment().get_template(name).render(**self.variables(), **values))  # noqa: S704 (autoescaped)
