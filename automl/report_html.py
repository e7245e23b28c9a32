"""The HTML report: one self-contained file that opens offline.

Styles, charts (inline SVG) and the script that sorts the leaderboard are all inside the
file; nothing is fetched from the network. Every string that comes from data, plugins or
the task file is escaped.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # the report is written from a RunResult, never imported at run time
    from automl.run import RunResult

KIND_COLOURS = {"classical": "#3b6ea8", "deep": "#c8553d"}

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1d232a}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
.muted{color:#5b6670}table{border-collapse:collapse;font-size:13px;margin:.5rem 0}
th,td{padding:.25rem .55rem;border-bottom:1px solid #e4e7ea;text-align:right;
vertical-align:top}th{cursor:pointer;background:#f4f6f8;position:sticky;top:0}
td.text,th.text{text-align:left}td.classical{color:#3b6ea8}td.deep{color:#c8553d}
.scroll{overflow-x:auto}pre{background:#f4f6f8;padding:.8rem;overflow:auto}
.charts{display:flex;flex-wrap:wrap;gap:2rem}.verdict{font-size:1.05rem;
background:#f4f8fb;border-left:4px solid #3b6ea8;padding:.6rem 1rem}
"""

SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function(th, column){
  th.addEventListener('click', function(){
    var body = th.closest('table').tBodies[0];
    var rows = Array.from(body.rows);
    var up = th.dataset.order !== 'up'; th.dataset.order = up ? 'up' : 'down';
    rows.sort(function(a, b){
      var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return up ? c : -c;
    });
    rows.forEach(function(row){ body.appendChild(row); });
  });
});
"""


def write_html_report(result: RunResult, path: Path) -> None:
    path.write_text(render(result), encoding="utf-8")


def render(result: RunResult) -> str:
    task, info, board = result.task, result.info, result.leaderboard
    classes = f", {info.n_classes} classes" if info.n_classes else ""
    sections = [
        f"<h1>{escape(task.name)}</h1>",
        f'<p class="muted">Dataset <b>{escape(info.name)}</b>: {info.n_train} training / '
        f"{info.n_test} test samples, {escape(info.input_kind)} input of shape "
        f"{escape(str(info.input_shape))}, {escape(info.task_type)}{escape(classes)}. "
        f"Searched for the best {escape(result.metric.name)} with the "
        f"{escape(task.sampler)} sampler: classical families by {task.cv_folds}-fold CV, "
        f"deep families on a validation share of the training split, epoch by epoch. "
        f"Deep families ran on {escape(result.environment['jax_devices'])}. Run "
        f"{escape(result.environment['started'])}, "
        f"{result.environment['wall_s']:.0f} s.</p>",
        f'<p class="verdict">{escape(verdict(result))}</p>',
        "<h2>Leaderboard</h2>",
        '<p class="muted">Sorted by test score; click a column to sort. CV columns are the '
        "search objective on the training split; test columns score the best parameters, "
        "refitted on the whole training split, once on the held-out test split.</p>",
        table(board.drop(columns=["best_params"]), sortable=True),
        "<h2>Score and cost</h2>",
        '<div class="charts">',
        bar_chart(board, f"test_{result.metric.name}", f"test {result.metric.name}"),
        bar_chart(board, "fit_s", "fit seconds (refit on the training split)"),
        bar_chart(board, "search_s", "search seconds (all trials)"),
        "</div>",
        "<h2>Best parameters</h2>",
        table(board[["family", "kind", "best_params"]]),
        failures(result),
        "<h2>Reproducibility</h2>",
        table(pd.DataFrame(_environment_rows(result.environment), columns=["what", "value"])),
        f"<p>Task file as run ({escape(str(task.path))}):</p>",
        f"<pre>{escape(task.source.text)}</pre>",
    ]
    body = "\n".join(sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(task.name)}: automl report</title><style>{STYLE}</style></head>"
            f"<body>\n{body}\n<script>{SORT_SCRIPT}</script></body></html>\n")


def verdict(result: RunResult) -> str:
    """One paragraph from the numbers: who won, by how much, at what cost."""
    board, metric = result.leaderboard, result.metric
    column = f"test_{metric.name}"
    scored = board.dropna(subset=[column])
    if scored.empty:
        return "No family produced a test score; see the failures below."
    best = scored.iloc[0]
    search_score = (f"validation {best['cv_mean']:.4f}" if pd.isna(best["cv_std"])
                    else f"CV {best['cv_mean']:.4f} ± {best['cv_std']:.4f}")
    text = (f"{best['family']} ({best['kind']}) scored best: test {metric.name} "
            f"{best[column]:.4f} ({search_score}), "
            f"fitted in {best['fit_s']:.2f} s, predicting 1,000 rows in "
            f"{best['predict_ms_per_1k']:.1f} ms.")
    if len(scored) > 1:
        runner = scored.iloc[1]
        text += (f" Next: {runner['family']} at {runner[column]:.4f} "
                 f"({runner[column] - best[column]:+.4f}).")
    by_kind = {kind: rows.iloc[0] for kind, rows in scored.groupby("kind", sort=False)}
    if len(by_kind) == 2:
        classical, deep = by_kind["classical"], by_kind["deep"]
        text += (f" Best classical: {classical['family']} {classical[column]:.4f}; best deep:"
                 f" {deep['family']} {deep[column]:.4f}.")
    elif len(by_kind) == 1:
        text += f" Only {next(iter(by_kind))} families were compared."
    return text


def table(frame: pd.DataFrame, *, sortable: bool = False) -> str:
    head = "".join(f'<th class="{_align(frame[c])}">{escape(str(c))}</th>'
                   for c in frame.columns)
    rows = ["<tr>" + "".join(_cell(row[c], frame[c]) for c in frame.columns) + "</tr>"
            for _, row in frame.iterrows()]
    css = ' class="sortable"' if sortable else ""
    return (f'<div class="scroll"><table{css}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _align(column: pd.Series) -> str:
    return "num" if pd.api.types.is_numeric_dtype(column) else "text"


def _cell(value, column: pd.Series) -> str:
    if pd.isna(value):
        shown = sort_key = ""
    elif isinstance(value, float):
        shown, sort_key = f"{value:.4g}", repr(value)
    else:
        shown = sort_key = str(value)
    css = _align(column)
    if column.name == "kind":  # colour classical and deep apart
        css += f" {shown}"
    return f'<td class="{escape(css)}" data-value="{escape(sort_key)}">{escape(shown)}</td>'


def bar_chart(board: pd.DataFrame, column: str, title: str) -> str:
    """A horizontal bar per family, coloured by kind, as inline SVG."""
    rows = board.dropna(subset=[column])
    if rows.empty:
        return ""
    bar, label_width, plot_width = 18, 170, 260
    height = 26 + bar * len(rows)
    top = max(float(rows[column].max()), 1e-12)
    parts = [f'<svg width="{label_width + plot_width + 70}" height="{height}" role="img">'
             f'<title>{escape(title)}</title>'
             f'<text x="0" y="14" font-weight="bold" font-size="13">{escape(title)}</text>']
    for i, (_, row) in enumerate(rows.iterrows()):
        y = 24 + i * bar
        width = max(1.0, plot_width * float(row[column]) / top)
        colour = KIND_COLOURS.get(row["kind"], "#888")
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 12}" text-anchor="end" font-size="12">'
            f'{escape(str(row["family"]))}</text>'
            f'<rect x="{label_width}" y="{y + 2}" width="{width:.1f}" height="{bar - 5}" '
            f'fill="{colour}"><title>{escape(str(row["family"]))}: {row[column]:.4g}'
            f"</title></rect>"
            f'<text x="{label_width + width + 4:.1f}" y="{y + 12}" font-size="11">'
            f"{row[column]:.4g}</text>")
    parts.append("</svg>")
    return "".join(parts)


def failures(result: RunResult) -> str:
    noted = result.leaderboard[result.leaderboard["note"] != ""][["family", "note"]]
    failed = result.trials[result.trials["state"] == "fail"]
    if noted.empty and failed.empty:
        return ""
    parts = ["<h2>Failures</h2>"]
    if not noted.empty:
        parts += ["<p>Families without a test score:</p>", table(noted)]
    if not failed.empty:
        parts += [f"<p>{len(failed)} failed trials (the search went on without them):</p>",
                  table(failed[["family", "trial", "error"]])]
    return "\n".join(parts)


def _environment_rows(environment: dict) -> list[tuple[str, str]]:
    rows = [(key, str(value)) for key, value in environment.items() if key != "versions"]
    rows += [(f"version of {name}", version)
             for name, version in environment["versions"].items()]
    return rows
