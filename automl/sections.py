"""What a report plugin registers: a `ReportSection`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from automl.schema import name_problems

if TYPE_CHECKING:
    from automl.outputs import RunRecord


@dataclass(frozen=True)
class ReportSection:
    """A section a plugin adds to the HTML report, through
    `automl_register_report_sections`.

    Attributes:
        name: unique id, lowercase letters, digits and underscores.
        title: the section's heading (escaped by the engine).
        render: ``render(record) -> html``: the section's body as an HTML fragment, from
            the run's stored tables (``record.tables``, ``record.leaderboard``,
            ``record.run``; see `automl.outputs.RunRecord`). The plugin must escape what
            it takes from data (``html.escape``; ``automl.report_html.table(frame)``
            renders a DataFrame escaped). Called when the report is written, also by
            ``python -m automl report``; if it raises, the section shows the error and
            the rest of the report is unaffected.
    """

    name: str
    title: str
    render: Callable[[RunRecord], str]

    def problems(self) -> list[str]:
        """What is wrong with this registration (empty when it is valid)."""
        found = name_problems(self.name)
        if not isinstance(self.title, str) or not self.title.strip():
            found.append("title must be a non-empty string")
        if not callable(self.render):
            found.append("render must be callable")
        return found
