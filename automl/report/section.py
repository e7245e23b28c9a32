"""What a report plugin registers: a `ReportSection`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from automl.api.schema import name_problems

if TYPE_CHECKING:
    from markupsafe import Markup

    from automl.report.context import SectionContext

PLUGIN_ORDER = 1000
"""Where plugin sections go by default: after the built-in sections (orders 100-950),
before "Reproducibility" (2000)."""


@dataclass(frozen=True)
class ReportSection:
    """A section of the HTML report, registered through `automl_register_report_sections`
    (the built-in sections are registered the same way, by the ``report`` plugin).

    Attributes:
        name: unique id, lowercase letters, digits and underscores; the heading's
            anchor is ``#section-<name>``.
        title: the section's heading (escaped by the engine).
        render: ``render(context) -> text, Markup or None``, called when the
            report is written (also by ``python -m automl report``) with an
            `automl.report.SectionContext`: the run (``context.run``, ``run.json`` typed),
            its tables (``context.tables``, ``context.leaderboard``), each metric's
            direction (``context.direction(name)``), and ``context.table(frame)`` and
            ``context.plot(chart)`` to show a DataFrame or a plot. A ``str`` is text: it
            is escaped and shown as it is, never read as a template. Markup is built
            explicitly: ``context.render(template, **values)`` renders Jinja2 template
            text (a constant of the plugin's own, never text made from data: values go in
            as ``values``) in Jinja2's sandboxed environment with autoescaping, against
            ``context.variables()`` (``{{ run.task }}``, ``{{ table(leaderboard) }}``);
            a ``markupsafe.Markup`` is put on the page as it is: the section vouches that
            it is safe. None or an empty string leaves the section out. If render raises,
            the section shows the error and the rest of the report is unaffected.
        order: where the section goes; sections are sorted by order, then by the order
            plugins were loaded (built-in plugins first). The built-in sections: data 100,
            leaderboard 200, cost 300, learning curves 400, depth 500, features 600,
            significance 700, failures 800, search 900, best parameters 950,
            reproducibility 2000. Default `PLUGIN_ORDER` (1000).
    """

    name: str
    title: str
    render: Callable[[SectionContext], str | Markup | None]
    order: int = PLUGIN_ORDER

    def problems(self) -> list[str]:
        """What is wrong with this registration (empty when it is valid)."""
        found = name_problems(self.name)
        if not isinstance(self.title, str) or not self.title.strip():
            found.append("title must be a non-empty string")
        if not callable(self.render):
            found.append("render must be callable")
        if not isinstance(self.order, int) or isinstance(self.order, bool):
            found.append(f"order must be an integer, not {self.order!r}")
        return found
