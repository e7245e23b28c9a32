"""The page: every registered section, in order, in one self-contained HTML file.

The built-in sections and the plugins' are registered alike (`automl.report.builtin` is
the built-in plugin ``report``); the page is the header (task, data, verdict) and a loop
over the sections sorted by `ReportSection.order`. Styles, scripts, the plots' data and
the plotting library (Vega, inlined once; see `automl.report.charts`) are all inside the
file, so it opens offline; each plot is also written as a static SVG under ``plots/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from automl.api.results import RunRecord
from automl.engine.outputs import record_written, written_files
from automl.report import charts as charts_
from automl.report.context import SectionContext, render, static
from automl.report.distinctions import agreement_sentence, ensemble_sentence
from automl.report.summary import verdict

if TYPE_CHECKING:
    from automl.engine.plugins import Registry


@dataclass(frozen=True)
class RenderedSection:
    name: str
    title: str
    body: Markup
    plugin: str | None  # the third-party plugin that added it; None for built-in ones


def write_html_report(record: RunRecord, folder: Path, registry: Registry) -> Path:
    """Write `index.html` and a static SVG of each of its plots under `plots/`."""
    context = section_context(record, registry)
    page = render_page(context, registry)
    plots = folder / "plots"
    plots.mkdir(exist_ok=True)
    for stale in written_files(folder):  # only the plots an earlier report wrote
        if stale.startswith("plots/") and stale.endswith(".svg"):
            (folder / stale).unlink(missing_ok=True)
    written = [plots / f"{chart.slug}.svg" for chart in context.figures.charts]
    for chart, path in zip(context.figures.charts, written, strict=True):
        path.write_text(charts_.static_svg(chart), encoding="utf-8")
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    record_written(folder, [*written, path])
    return path


def section_context(record: RunRecord, registry: Registry) -> SectionContext:
    """The context every section of `record`'s report is given."""
    metrics = {name: registry.metrics[name].item for name in record.run.report_metrics
               if name in registry.metrics}
    return SectionContext(record, metrics=metrics)


def render_page(context: SectionContext, registry: Registry) -> str:
    """The report of a stored run; its plots are added to ``context.figures``."""
    run = context.run
    sections = [section for section in (render_section(context, registry, name)
                                        for name in section_order(registry))
                if section is not None]
    return render("page.html", run=run, data=run.dataset, verdict=verdict(context.record, [
        agreement_sentence(context.record), ensemble_sentence(context.record)]),
                  shape=str(tuple(run.dataset.input_shape)), sections=sections,
                  static=static, plots=bool(context.figures.charts),
                  vega=Markup(charts_.vega_script()) if context.figures.charts else "") + "\n"  # noqa: S704 (packaged)


def section_order(registry: Registry) -> list[str]:
    """The registered sections' names by `ReportSection.order`, then by registration (the
    registry keeps plugins' registrations in plugin load order)."""
    entries = list(registry.report_sections.items())
    return [name for name, _ in sorted(entries, key=lambda item: item[1].item.order)]


def render_section(context: SectionContext, registry: Registry,
                   name: str) -> RenderedSection | None:
    """One section's heading and body; None when it has nothing to show. A section that
    raises, or returns something other than text, shows why instead."""
    entry = registry.report_sections[name]
    section, what = entry.item, f"report section '{name}'"
    ok, body = registry.guarded(entry.plugin, what, _body, section, context)
    if ok and body is not None and not isinstance(body, str):
        ok, body = False, f"render returned {type(body).__name__}, not text or Markup"
        registry.fail(entry.plugin, f"{what}: {body}")
    if not ok:
        body = render("could_not_draw.html", error=body)
    elif not body:
        return None
    plugin = None if registry.is_built_in(entry.plugin) else entry.plugin
    return RenderedSection(name, section.title, body, plugin)


def _body(section, context: SectionContext):
    """What a section's render gave, as markup: text escaped (never read as a template,
    where a column name formatted into it could run code), Markup as it is."""
    body = section.render(context)
    if isinstance(body, str) and not isinstance(body, Markup):
        return escape(body)
    return body
