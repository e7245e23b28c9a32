"""The HTML report: one self-contained file that opens offline.

Styles, charts (inline SVG) and the script that sorts the leaderboard are all inside the
file; nothing is fetched from the network. Every string that comes from data, plugins or
the task file is escaped.
"""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from automl.analysis import crossover, disagreements
from automl.outputs import RunRecord

KIND_COLOURS = {"classical": "#3b6ea8", "deep": "#c8553d"}
PALETTE = ["#3b6ea8", "#c8553d", "#2a9d8f", "#e9a03b", "#8e6c8a", "#6a994e", "#bc4749",
           "#577590", "#f3722c", "#43aa8b", "#90be6d", "#277da1"]

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1d232a}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
.muted{color:#5b6670}table{border-collapse:collapse;font-size:13px;margin:.5rem 0}
th,td{padding:.25rem .55rem;border-bottom:1px solid #e4e7ea;text-align:right;
vertical-align:top}th{cursor:pointer;background:#f4f6f8;position:sticky;top:0}
td.text,th.text{text-align:left}td.classical{color:#3b6ea8}td.deep{color:#c8553d}
.scroll{overflow-x:auto}pre{background:#f4f6f8;padding:.8rem;overflow:auto}
.charts{display:flex;flex-wrap:wrap;gap:2rem}.examples{display:flex;flex-wrap:wrap;
gap:.8rem}figure{margin:0;font-size:12px;text-align:center}figure img{display:block;
image-rendering:pixelated}table.confusion td{text-align:center;min-width:1.6rem}
.verdict{font-size:1.05rem;background:#f4f8fb;border-left:4px solid #3b6ea8;padding:.6rem 1rem}
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


def write_html_report(record: RunRecord, path: Path) -> None:
    path.write_text(render(record), encoding="utf-8")


def render(record: RunRecord) -> str:
    """The report of a stored run (see automl.outputs)."""
    run, board = record.run, record.leaderboard
    data = run["dataset"]
    classes = f", {len(data['class_names'])} classes" if data["class_names"] else ""
    metric = run["metric"]
    sections = [
        f"<h1>{escape(run['task'])}</h1>",
        f'<p class="muted">Dataset <b>{escape(data["name"])}</b>: {data["n_train"]} training'
        f' / {data["n_test"]} test samples, {escape(data["input_kind"])} input of shape '
        f"{escape(str(tuple(data['input_shape'])))}, {escape(data['task_type'])}"
        f"{escape(classes)}. Searched for the best {escape(metric)} with the "
        f"{escape(run['sampler'])} sampler: classical families by {run['cv_folds']}-fold CV,"
        f" deep families on a validation share of the training split, epoch by epoch. "
        f"Deep families ran on {escape(run['jax_devices'])}. Run "
        f"{escape(run['started'])}, {run['wall_s']:.0f} s.</p>",
        f'<p class="verdict">{escape(verdict(record))}</p>',
        "<h2>Leaderboard</h2>",
        '<p class="muted">Sorted by test score; click a column to sort. CV columns are the '
        "search objective on the training split; test columns score the best parameters, "
        "refitted on the whole training split, once on the held-out test split.</p>",
        table(board.drop(columns=["best_params"]), sortable=True),
        "<h2>Score and cost</h2>",
        '<p class="muted">Test score against cost, one point per family (blue classical, '
        "red deep); the line joins the Pareto front, the families no other beats on both "
        "score and cost.</p>",
        '<div class="charts">',
        cost_chart(board, f"test_{metric}", "fit_s", "fit seconds (log scale)",
                   run["metric_direction"]),
        cost_chart(board, f"test_{metric}", "predict_ms_per_1k",
                   "prediction ms per 1,000 rows (log scale)", run["metric_direction"]),
        "</div>",
        '<div class="charts">',
        bar_chart(board, f"test_{metric}", f"test {metric}"),
        bar_chart(board, "fit_s", "fit seconds (refit on the training split)"),
        bar_chart(board, "compile_s", "compile seconds (deep families)"),
        bar_chart(board, "search_s", "search seconds (all trials)"),
        "</div>",
        learning_section(record),
        depth_section(record),
        features_section(record),
        significance(record),
        failure_modes(record),
        search_section(record),
        "<h2>Best parameters</h2>",
        table(board[["family", "kind", "best_params"]]),
        "<h2>Reproducibility</h2>",
        table(pd.DataFrame(_environment_rows(run), columns=["what", "value"])),
        f"<p>Task file as run ({escape(run['task_file'])}):</p>",
        f"<pre>{escape(record.task_text)}</pre>",
    ]
    body = "\n".join(part for part in sections if part)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(run['task'])}: automl report</title><style>{STYLE}</style>"
            f"</head><body>\n{body}\n<script>{SORT_SCRIPT}</script></body></html>\n")


class PlotFrame:
    """The plot area of an SVG chart: maps data to pixels and draws the title and the
    axis labels (the lowest and highest y, the x label)."""

    left, top, height = 50, 24, 200

    def __init__(self, xs: list[float], ys: list[float], *, log_x: bool = False,
                 width: int = 420):
        self.scale_x = np.log10 if log_x else (lambda v: v)
        scaled = [self.scale_x(x) for x in xs]
        self.x_low, self.x_high = min(scaled), max(scaled)
        self.y_low, self.y_high = min(ys), max(ys)
        self.width = width

    def at(self, x: float, y: float) -> tuple[float, float]:
        return (self.left + (self.scale_x(x) - self.x_low)
                / ((self.x_high - self.x_low) or 1) * self.width,
                self.top + self.height - (y - self.y_low)
                / ((self.y_high - self.y_low) or 1e-9) * self.height)

    def open(self, title: str, x_label: str, legend_width: int) -> str:
        """The opening <svg> tag with the title and axis labels."""
        bottom = self.top + self.height
        return (f'<svg width="{self.left + self.width + legend_width}" '
                f'height="{self.height + 60}" role="img">'
                f'<text x="0" y="12" font-weight="bold" font-size="13">{escape(title)}</text>'
                f'<text x="0" y="30" font-size="11">{self.y_high:.4f}</text>'
                f'<text x="0" y="{bottom}" font-size="11">{self.y_low:.4f}</text>'
                f'<text x="{self.left + self.width / 2}" y="{self.height + 52}" '
                f'font-size="11" text-anchor="middle">{escape(x_label)}</text>')


def pareto_front(points: list[tuple[float, float]], maximize: bool) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and score."""
    better = (lambda a, b: a >= b) if maximize else (lambda a, b: a <= b)
    front = []
    for i, (cost, score) in enumerate(points):
        dominated = any(c <= cost and better(s, score) and (c, s) != (cost, score)
                        for c, s in points)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def cost_chart(board: pd.DataFrame, score: str, cost: str, x_label: str,
               direction: str) -> str:
    """Score against a cost (log scale), a point per family, the Pareto front joined."""
    rows = board.dropna(subset=[score, cost])
    rows = rows[rows[cost] > 0]
    if rows.empty:
        return ""
    points = list(zip(rows[cost].astype(float), rows[score].astype(float), strict=True))
    frame = PlotFrame([c for c, _ in points], [s for _, s in points], log_x=True, width=360)
    parts = [frame.open(f"{score} by {x_label}", x_label, legend_width=120)]
    at = frame.at
    front = pareto_front(points, direction == "maximize")
    line = " ".join(f"{a:.1f},{b:.1f}" for a, b in (at(*points[i]) for i in front))
    parts.append(f'<polyline fill="none" stroke="#999" stroke-dasharray="4 3" '
                 f'points="{line}"/>')
    for (c, v), (_, row) in zip(points, rows.iterrows(), strict=True):
        a, b = at(c, v)
        colour = KIND_COLOURS.get(row["kind"], "#888")
        name = escape(str(row["family"]))
        parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="4" fill="{colour}"><title>'
                     f"{name}: {v:.4f} at {c:.4g}</title></circle>"
                     f'<text x="{a + 6:.1f}" y="{b - 4:.1f}" font-size="10">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def verdict(record: RunRecord) -> str:
    """One paragraph from the numbers: who won, by how much, whether it is real, at what
    cost."""
    board, metric = record.leaderboard, record.run["metric"]
    column = f"test_{metric}"
    scored = board.dropna(subset=[column])
    if scored.empty:
        return "No family produced a test score; see the failures below."
    best = scored.iloc[0]
    search_score = (f"validation {best['cv_mean']:.4f}" if pd.isna(best["cv_std"])
                    else f"CV {best['cv_mean']:.4f} ± {best['cv_std']:.4f}")
    text = (f"{best['family']} ({best['kind']}) scored best: test {metric} "
            f"{best[column]:.4f} ({search_score}), fitted in {best['fit_s']:.2f} s, "
            f"predicting 1,000 rows in {best['predict_ms_per_1k']:.1f} ms.")
    if len(scored) > 1:
        runner = scored.iloc[1]
        text += (f" Next: {runner['family']} at {runner[column]:.4f} "
                 f"({runner[column] - best[column]:+.4f}).")
    by_kind = {kind: rows.iloc[0] for kind, rows in scored.groupby("kind", sort=False)}
    if len(by_kind) == 2:
        classical, deep = by_kind["classical"], by_kind["deep"]
        text += (f" Best classical: {classical['family']} {classical[column]:.4f}, fitted "
                 f"in {classical['fit_s']:.2f} s after {classical['search_s']:.0f} s of "
                 f"search; best deep: {deep['family']} {deep[column]:.4f}, fitted in "
                 f"{deep['fit_s']:.2f} s (+{deep['compile_s']:.1f} s compiling) after "
                 f"{deep['search_s']:.0f} s of search.")
    elif len(by_kind) == 1:
        text += f" Only {next(iter(by_kind))} families were compared."
    comparison = record.tables["comparison"]
    if not comparison.empty:
        first = comparison.iloc[0]
        real = first["p_value"] < 0.05
        text += (f" Over {int(first['seeds'])} seeds, {first['family_a']} averaged "
                 f"{first['mean_a']:.4f} and {first['family_b']} {first['mean_b']:.4f}: "
                 f"the difference ({first['difference']:+.4f}) is "
                 f"{'statistically significant' if real else 'not statistically significant'}"
                 f" (paired t-test p = {first['p_value']:.3g}).")
    return text


def significance(record: RunRecord) -> str:
    comparison, scores = record.tables["comparison"], record.tables["seed_scores"]
    if comparison.empty:
        return ""
    metric = record.run["metric"]
    parts = ["<h2>Is the difference real?</h2>",
             f'<p class="muted">Each compared family refitted with {int(comparison.seeds.max())}'
             f" seeds on the same training split and scored on the test split: mean "
             f"{escape(metric)} with its 95% interval, and a paired t-test over the seeds."
             "</p>", table(comparison)]
    summary = scores.groupby("family")["score"].agg(["mean", "min", "max"]).reset_index()
    parts.append(interval_chart(comparison, f"test {metric}: mean and 95% interval"))
    parts.append(table(summary))
    return "\n".join(parts)


def interval_chart(comparison: pd.DataFrame, title: str) -> str:
    """Each compared family's mean as a dot with its interval as a line (inline SVG)."""
    rows = []
    for _, pair in comparison.iterrows():
        for side in ("a", "b"):
            rows.append((pair[f"family_{side}"], pair[f"mean_{side}"], pair[f"low_{side}"],
                         pair[f"high_{side}"]))
    rows = list(dict.fromkeys(rows))
    low = min(r[2] for r in rows)
    high = max(r[3] for r in rows)
    span = (high - low) or 1e-9
    width, left, step = 300, 170, 22
    parts = [f'<svg width="{left + width + 90}" height="{30 + step * len(rows)}" role="img">'
             f'<text x="0" y="14" font-weight="bold" font-size="13">{escape(title)}</text>']
    for i, (name, mean, lo, hi) in enumerate(rows):
        y = 32 + i * step
        x = lambda v: left + (v - low) / span * width  # noqa: E731
        parts.append(
            f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="12">'
            f"{escape(str(name))}</text>"
            f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{y}" y2="{y}" stroke="#555"/>'
            f'<circle cx="{x(mean):.1f}" cy="{y}" r="4" fill="#3b6ea8"><title>'
            f"{escape(str(name))}: {mean:.4f} [{lo:.4f}, {hi:.4f}]</title></circle>"
            f'<text x="{left + width + 8}" y="{y + 4}" font-size="11">{mean:.4f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def depth_section(record: RunRecord) -> str:
    trials, board = record.tables["trials"], record.leaderboard
    deep = board[board["kind"] == "deep"]["family"].tolist()
    charts = []
    for family in deep:
        rows = trials[(trials.family == family) & (trials.state == "complete")]
        points = [(json.loads(p).get("depth"), v) for p, v in zip(rows.params, rows.cv_mean,
                                                                 strict=True)]
        points = [(d, v) for d, v in points if d is not None]
        if points:
            charts.append(scatter_chart(points, f"{family}: validation score by depth"))
    parts = []
    if charts:
        parts += ["<p class=\"muted\">Every completed trial of each deep family: its "
                  "validation score against its number of layers; the best trial of each "
                  "depth in orange.</p>", '<div class="charts">', *charts, "</div>"]
    found = record.tables["importances"]
    if not found.empty:
        parts += ["<p class=\"muted\">Which choices mattered: Optuna's fANOVA importance of "
                  "each searched parameter (shares of the score's variance), per family.</p>",
                  '<div class="charts">',
                  *(importance_table(rows, family) for family, rows
                    in found.groupby("family", sort=False)), "</div>"]
    return "<h2>Does depth help?</h2>" + "".join(parts) if parts else ""


def features_section(record: RunRecord) -> str:
    found = record.tables["features"]
    if found.empty:
        return ""
    metric = record.run["metric"]
    scores = found.pivot_table(index=["family", "kind"], columns="representation",
                               values="score").reset_index()
    order = ["family", "kind", "raw", "learned"] + sorted(
        c for c in scores.columns if c not in ("family", "kind", "raw", "learned"))
    scores = scores[[c for c in order if c in scores.columns]]
    best = found.dropna(subset=["score"]).sort_values("score", ascending=(
        record.run["metric_direction"] == "minimize")).groupby("representation").head(1)
    best = best.assign(family=best["family"] + " on " + best["representation"])
    return "\n".join([
        "<h2>Features: engineered or learned?</h2>",
        f'<p class="muted">Test {escape(metric)} of each classical family\'s best '
        "configuration on the raw input and refitted on engineered features (fitted on the "
        "training split), beside the deep families, which learn their features from the "
        "raw input.</p>",
        bar_chart(best.rename(columns={"score": metric}), metric,
                  f"best test {metric} per representation"),
        table(scores)])


def importance_table(rows: pd.DataFrame, family: str) -> str:
    cells = "".join(
        f"<tr><td class=\"text\">{escape(str(r.param))}</td><td><div style=\"width:"
        f"{120 * r.importance:.0f}px;height:10px;background:#3b6ea8\"></div></td>"
        f"<td>{r.importance:.2f}</td></tr>"
        for r in rows.sort_values("importance", ascending=False).head(8).itertuples())
    return (f"<div><p><b>{escape(family)}</b></p><table><tbody>{cells}</tbody></table>"
            "</div>")


def scatter_chart(points: list[tuple[int, float]], title: str) -> str:
    """Score against an integer x (depth), best per x highlighted (inline SVG)."""
    xs = sorted({x for x, _ in points})
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span = (high - low) or 1e-9
    width, height, left = 300, 160, 50
    best = {x: max(v for px, v in points if px == x) for x in xs}
    def position(x, v):
        return (left + (xs.index(x) + 0.5) / len(xs) * width,
                30 + height - (v - low) / span * height)
    parts = [f'<svg width="{left + width + 20}" height="{height + 60}" role="img">'
             f'<text x="0" y="14" font-weight="bold" font-size="13">{escape(title)}</text>'
             f'<text x="0" y="40" font-size="11">{high:.3f}</text>'
             f'<text x="0" y="{30 + height}" font-size="11">{low:.3f}</text>']
    for x in xs:
        px, _ = position(x, low)
        parts.append(f'<text x="{px:.1f}" y="{height + 50}" font-size="11" '
                     f'text-anchor="middle">{x}</text>')
    for x, v in points:
        px, py = position(x, v)
        colour = "#e07b24" if v == best[x] else "#8aa4c8"
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}"><title>'
                     f"depth {x}: {v:.4f}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def failure_modes(record: RunRecord) -> str:
    """Confusion matrices of the compared pair and the test images they disagree on."""
    pairs, classes = record.run["compared"], record.run["dataset"]["class_names"]
    predictions = record.tables["predictions"]
    if not pairs or not classes:
        return ""
    a, b = pairs[0]
    if a not in predictions or b not in predictions:
        return ""
    parts = ["<h2>Where they fail</h2>", '<div class="charts">']
    for family in (a, b):
        parts.append(confusion_table(predictions["y_true"], predictions[family], classes,
                                     f"{family}: true class (rows) by predicted (columns)"))
    parts.append("</div>")
    differ = disagreements(predictions, a, b)
    parts.append(f"<p>{int((predictions[a] != predictions[b]).sum())} test samples get "
                 f"different predictions from {escape(a)} and {escape(b)}"
                 + (f"; the first {len(differ)}:" if len(differ) else ".") + "</p>")
    examples = record.examples
    if len(differ) and "X" in examples:
        images = dict(zip(examples["rows"].tolist(), examples["X"], strict=True))
        cells = []
        for _, row in differ.iterrows():
            if int(row["row"]) in images:
                cells.append(
                    f'<figure><img alt="test sample {int(row["row"])}" src="'
                    f'{image_data_uri(images[int(row["row"])])}"><figcaption>true '
                    f'{escape(classes[int(row["y_true"])])}<br>{escape(a)}: '
                    f'{escape(classes[int(row[a])])}<br>{escape(b)}: '
                    f'{escape(classes[int(row[b])])}</figcaption></figure>')
        parts.append('<div class="examples">' + "".join(cells) + "</div>")
    elif len(differ):
        shown = differ[["row", "y_true", a, b]].copy()
        for column in ("y_true", a, b):
            shown[column] = [classes[int(v)] for v in shown[column]]
        parts.append(table(shown))
    return "\n".join(parts)


def confusion_table(y_true: pd.Series, y_pred: pd.Series, classes: list[str],
                    title: str) -> str:
    n = len(classes)
    counts = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true.astype(int), y_pred.astype(int), strict=True):
        counts[t, p] += 1
    top = max(1, counts.max())
    head = "".join(f"<th>{escape(c)}</th>" for c in classes)
    rows = []
    for i, name in enumerate(classes):
        cells = "".join(
            f'<td style="background:rgba(59,110,168,{counts[i, j] / top:.2f});'
            f'color:{"#fff" if counts[i, j] / top > 0.5 else "#1d232a"}">{counts[i, j]}</td>'
            for j in range(n))
        rows.append(f"<tr><th>{escape(name)}</th>{cells}</tr>")
    return (f'<div><p><b>{escape(title)}</b></p><table class="confusion"><thead><tr><th>'
            f"</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def image_data_uri(pixels: np.ndarray) -> str:
    """A PNG of one image (height, width, channels), scaled to 0-255 and enlarged."""
    from PIL import Image
    image = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    low, high = float(image.min()), float(image.max())
    scaled = ((image - low) / ((high - low) or 1.0) * 255).astype(np.uint8)
    picture = Image.fromarray(scaled)
    picture = picture.resize((picture.width * 8, picture.height * 8), Image.NEAREST) \
        if picture.width < 32 else picture
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def search_section(record: RunRecord) -> str:
    trials, direction = record.tables["trials"], record.run["metric_direction"]
    parts = ["<h2>Search</h2>",
             '<p class="muted">Best score so far against trial number and against the '
             "family's seconds of trials (CV mean for classical families, validation score "
             "for deep ones).</p>",
             '<div class="charts">', history_chart(trials, direction),
             history_by_time(trials, direction), "</div>"]
    counts = (trials.groupby(["family", "state"]).size().unstack(fill_value=0)
              .reset_index())
    parts.append(table(counts))
    failed = trials[trials["state"] == "fail"]
    if not failed.empty:
        parts += [f"<p>{len(failed)} failed trials (the search went on without them):</p>",
                  table(failed[["family", "trial", "error"]])]
    notes = record.leaderboard[record.leaderboard["note"].fillna("") != ""]
    if not notes.empty:
        parts += ["<p>Families without a test score:</p>", table(notes[["family", "note"]])]
    return "\n".join(parts)


def history_chart(trials: pd.DataFrame, direction: str) -> str:
    """Best-so-far score against trial number, a line per family."""
    complete = trials[trials["state"] == "complete"].sort_values(["family", "trial"])
    series = {}
    for family, rows in complete.groupby("family", sort=False):
        values = rows["cv_mean"].cummax() if direction == "maximize" \
            else rows["cv_mean"].cummin()
        series[family] = [(t, v, v, v) for t, v in zip(rows["trial"], values, strict=True)]
    return line_chart(series, "best score so far", "trial")


def history_by_time(trials: pd.DataFrame, direction: str) -> str:
    """Best-so-far score against the family's cumulative trial seconds."""
    finished = trials.sort_values(["family", "trial"]).copy()
    finished["elapsed"] = finished.groupby("family")["duration_s"].cumsum()
    complete = finished[finished["state"] == "complete"]
    series = {}
    for family, rows in complete.groupby("family", sort=False):
        values = rows["cv_mean"].cummax() if direction == "maximize" \
            else rows["cv_mean"].cummin()
        series[family] = [(t, v, v, v) for t, v in zip(rows["elapsed"], values, strict=True)
                          if t > 0]
    return line_chart(series, "best score so far", "seconds of trials (log scale)",
                      log_x=True)


def line_chart(series: dict[str, list[tuple[float, float, float, float]]], title: str,
               x_label: str, *, log_x: bool = False) -> str:
    """Lines of (x, y) per series with a (low, high) band, as inline SVG; hovering a
    point shows its values."""
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    frame = PlotFrame([p[0] for p in points], [v for p in points for v in p[2:]],
                      log_x=log_x)
    parts = [frame.open(title, x_label, legend_width=190)]
    at, left, width, height, low = frame.at, frame.left, frame.width, frame.height, frame.y_low
    for i, (name, values) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        if any(lo != hi for _, _, lo, hi in values):
            band = [at(x, hi) for x, _, _, hi in values] + \
                [at(x, lo) for x, _, lo, _ in reversed(values)]
            parts.append(f'<polygon fill="{colour}" opacity="0.15" points="'
                         + " ".join(f"{a:.1f},{b:.1f}" for a, b in band) + '"/>')
        line = " ".join(f"{a:.1f},{b:.1f}" for a, b in (at(x, y) for x, y, _, _ in values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{line}"/>')
        for x, y, _, _ in values:
            a, b = at(x, y)
            parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{colour}"><title>'
                         f"{escape(str(name))}: {y:.4f} at {x:g}</title></circle>")
        parts.append(f'<text x="{left + width + 10}" y="{30 + i * 15}" font-size="11" '
                     f'fill="{colour}">{escape(str(name))}</text>')
    for x in sorted({p[0] for p in points}):
        a, _ = at(x, low)
        parts.append(f'<text x="{a:.1f}" y="{height + 38}" font-size="10" '
                     f'text-anchor="middle">{x:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def learning_section(record: RunRecord) -> str:
    curves = record.tables["learning_curves"].dropna(subset=["score"])
    if curves.empty:
        return ""
    board, run = record.leaderboard, record.run
    series = {}
    for family in board["family"]:
        rows = curves[curves.family == family]
        if rows.empty:
            continue
        stats = rows.groupby("n_train")["score"].agg(["mean", "std"]).fillna(0.0)
        series[family] = [(n, m, m - s, m + s) for n, (m, s) in stats.iterrows()]
    parts = ["<h2>How much data does each family need?</h2>",
             f'<p class="muted">Each family\'s best configuration retrained on shares of the '
             f"training split (stratified, {int(curves.seed.max()) + 1} seeds each) and scored "
             f"on the test split: mean {escape(run['metric'])} with a band of one standard "
             "deviation.</p>"]
    best = {kind: rows.iloc[0]["family"] for kind, rows in
            board.dropna(subset=[f"test_{run['metric']}"]).groupby("kind", sort=False)}
    if len(best) == 2:
        text = crossover(curves, best["classical"], best["deep"], run["metric_direction"])
        if text:
            parts.append(f'<p class="verdict">Best classical ({escape(best["classical"])}) '
                         f'against best deep ({escape(best["deep"])}): {escape(text)}.</p>')
    parts.append(line_chart(series, f"test {run['metric']} by training samples",
                            "training samples (log scale)", log_x=True))
    failed = record.tables["learning_curves"].fillna({"error": ""})
    failed = failed[failed["error"] != ""]
    if not failed.empty:
        parts += ["<p>Points that could not be fitted:</p>",
                  table(failed[["family", "n_train", "seed", "error"]].drop_duplicates(
                      subset=["family", "n_train"]))]
    return "\n".join(parts)



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


def _environment_rows(run: dict) -> list[tuple[str, str]]:
    rows = [(key, str(value)) for key, value in run.items()
            if key not in ("versions", "dataset", "compared")]
    rows += [(f"version of {name}", version) for name, version in run["versions"].items()]
    return rows
