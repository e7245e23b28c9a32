"""The analyses stage of a run: every registered analysis, one after another by order.

Each analysis that is switched on and applies to the data runs with its own
`automl.fitting.budget.StageCutoff`: under a time limit it may use its `cost`'s share of what
the analyses' stage still has, and what it leaves goes to those after it. An analysis
that raises (or returns what it did not declare) is reported as its plugin's problem,
and its tables are written empty; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from automl.analyses.api import Analysis, AnalysisContext
from automl.fitting.budget import StageCutoff, TimePlan


def switched_on(analysis: Analysis, options: Mapping[str, Any], info) -> bool:
    """Whether `analysis` is on (its switch, in its checked `options`) for data of
    `info`'s input kind and task type."""
    return (analysis.is_on(options)
            and (not analysis.input_kinds or info.input_kind in analysis.input_kinds)
            and (not analysis.task_types or info.task_type in analysis.task_types))


def applies_to(analysis: Analysis, context: AnalysisContext) -> bool:
    """Whether `analysis` is on and has something to do (its `applies`)."""
    return (switched_on(analysis, context.options, context.dataset.info)
            and (analysis.applies is None or bool(analysis.applies(context))))


def run_analyses(analyses: Sequence[tuple[Analysis, str]],
                 options: Mapping[str, Mapping[str, Any]], context: AnalysisContext,
                 plan: TimePlan, stages: dict[str, float],
                 guarded: Callable[..., tuple[bool, Any]],
                 fail: Callable[[str, str], None]) -> list[str]:
    """Run each (analysis, its plugin) in `analyses` (in order) on `context`, its
    checked ``[report]`` keys from `options`; their tables go into ``context.tables``
    and each one's wall seconds into `stages` (``analyses: <title>``). `guarded(plugin,
    what, function, argument)` calls a plugin's function, reporting what it raises;
    `fail(plugin, problem)` reports a problem. Returns the notes of analyses a time
    limit cut short."""
    notes: list[str] = []
    ordered = sorted(analyses, key=lambda entry: entry[0].order)  # stable: load order
    for position, (analysis, plugin) in enumerate(ordered):
        own = replace(context, options=options.get(analysis.name, {}))
        context.tables.update(analysis.empty_tables())
        if not applies_to(analysis, own):
            continue
        later = [a for a, _ in ordered[position:]
                 if switched_on(a, options.get(a.name, {}), context.dataset.info)]
        own.cutoff = StageCutoff(plan, "analyses", _share_end(plan, analysis, later), notes)
        started = time.time()
        ok, found = guarded(plugin, f"analysis '{analysis.name}'", analysis.run, own)
        stages[f"analyses: {analysis.title}"] = round(time.time() - started, 2)
        if ok:
            context.tables.update(_declared(analysis, found, plugin, fail))
    return notes


def _share_end(plan: TimePlan, analysis: Analysis, remaining: list[Analysis]
               ) -> float | None:
    """When `analysis` should end under a time limit: its cost's share of what the
    analyses' stage has left, shared with the analyses after it (None: no limit)."""
    left = plan.left("analyses")
    if left is None:
        return None
    total = sum(a.cost for a in remaining)
    share = analysis.cost / total if total > 0 else 1.0
    return time.monotonic() + left * share


def _declared(analysis: Analysis, found: Any, plugin: str,
              fail: Callable[[str, str], None]) -> dict[str, pd.DataFrame]:
    """The tables `analysis` returned that it declared, each with its declared columns
    (those it lacks added empty); anything else is reported and left out."""
    if not isinstance(found, Mapping):
        fail(plugin, f"analysis '{analysis.name}' returned {type(found).__name__}, not a "
             "dict of its tables; its tables are left empty")
        return {}
    kept = {}
    for name, table in found.items():
        if name not in analysis.tables or not isinstance(table, pd.DataFrame):
            fail(plugin, f"analysis '{analysis.name}' returned {name!r} "
                 f"({type(table).__name__}), not one of its declared tables "
                 f"({', '.join(analysis.tables)}) as a DataFrame; left out")
            continue
        missing = [c for c in analysis.tables[name] if c not in table.columns]
        kept[name] = table.assign(**dict.fromkeys(missing)) if missing else table
    return kept
