"""The HTML report: one self-contained file that opens offline.

Styles, the plots' data and the plotting library (Vega, inlined once; see automl.charts)
and the script that sorts the leaderboard are all inside the file; nothing is fetched from
the network. Each plot is also written as a static SVG under `plots/` for printing. Every
string that comes from data, plugins or the task file is escaped.
"""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from automl import charts as charts_
from automl.analysis import crossover, disagreements
from automl.outputs import RunRecord
from automl.plugins import Registry
from automl.tables import ONE_HOT_MAX

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
figure.plot figcaption a{color:#5b6670}@media print{figure.plot figcaption{display:none}}
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

# Draws each <div class="vega"> from the JSON spec its data-spec attribute names.
PLOT_SCRIPT = """
document.querySelectorAll('div.vega').forEach(function(element){
  var spec = JSON.parse(document.getElementById(element.dataset.spec).textContent);
  vegaEmbed(element, spec, {renderer: 'svg', actions: false}).catch(function(error){
    element.textContent = 'This plot could not be drawn: ' + error;
    console.error(error);
  });
});
"""


class Figures:
    """The plots of one report in page order; each is embedded in the page and written as
    a static SVG."""

    def __init__(self):
        self.charts: list[charts_.Chart] = []

    def add(self, chart: charts_.Chart) -> str:
        """The page's markup for `chart`: a div the plot script draws into, its spec, and
        a link to the static image."""
        self.charts.append(chart)
        spec_id = f"plot-{len(self.charts)}"
        # "<" escaped so that data containing "</script>" cannot end the script element.
        spec = json.dumps(chart.spec).replace("<", "\\u003c")
        return (f'<figure class="plot"><div class="vega" data-spec="{spec_id}"></div>'
                f'<script type="application/json" id="{spec_id}">{spec}</script>'
                f'<figcaption><a href="plots/{escape(chart.slug)}.svg">static image (SVG)'
                "</a></figcaption></figure>")


def write_html_report(record: RunRecord, folder: Path, registry: Registry | None = None) -> Path:
    """Write `index.html` and a static SVG of each of its plots under `plots/`; sections
    that plugins in `registry` registered come after the built-in ones."""
    figures = Figures()
    page = render(record, figures, plugin_sections(record, registry) if registry else [])
    plots = folder / "plots"
    plots.mkdir(exist_ok=True)
    for stale in plots.glob("*.svg"):
        stale.unlink()
    for chart in figures.charts:
        (plots / f"{chart.slug}.svg").write_text(charts_.static_svg(chart), encoding="utf-8")
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def render(record: RunRecord, figures: Figures, extra_sections: list[str] = ()) -> str:
    """The report of a stored run (see automl.outputs); its plots are added to `figures`.
    `extra_sections` (HTML) come before the reproducibility section."""
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
        data_section(record),
        "<h2>Leaderboard</h2>",
        '<p class="muted">Sorted by test score; click a column to sort. CV columns are the '
        "search objective on the training split; test columns score the best parameters, "
        "refitted on the whole training split, once on the held-out test split.</p>",
        table(board.drop(columns=["best_params"]), sortable=True),
        "<h2>Score and cost</h2>",
        '<p class="muted">Test score against cost, one point per family (blue classical, '
        "red deep); the dashed line joins the Pareto front, the families no other beats on "
        "both score and cost. Hover a point for its values; scroll to zoom, drag to pan, "
        "double-click to reset.</p>",
        cost_charts(figures, board, metric, run["metric_direction"]),
        learning_section(record, figures),
        depth_section(record, figures),
        features_section(record, figures),
        significance(record, figures),
        failure_modes(record),
        search_section(record, figures),
        "<h2>Best parameters</h2>",
        table(board[["family", "kind", "best_params"]]),
        *extra_sections,
        "<h2>Reproducibility</h2>",
        table(pd.DataFrame(_environment_rows(run), columns=["what", "value"])),
        f"<p>Task file as run ({escape(run['task_file'])}):</p>",
        f"<pre>{escape(record.task_text)}</pre>",
    ]
    body = "\n".join(part for part in sections if part)
    plot_scripts = (f"<script>{charts_.vega_script()}</script><script>{PLOT_SCRIPT}</script>"
                    if figures.charts else "")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(run['task'])}: automl report</title><style>{STYLE}</style>"
            f"</head><body>\n{body}\n<script>{SORT_SCRIPT}</script>{plot_scripts}"
            "</body></html>\n")


def plugin_sections(record: RunRecord, registry: Registry) -> list[str]:
    """The sections plugins registered, rendered; one that raises shows its error."""
    sections = []
    for name, entry in registry.report_sections.items():
        section = entry.item
        what = f"report section '{name}'"
        ok, body = registry.guarded(entry.plugin, what, section.render, record)
        if ok and not isinstance(body, str):
            ok, body = False, f"render returned {type(body).__name__}, not an HTML string"
            registry.fail(entry.plugin, f"{what}: {body}")
        if not ok:
            body = f'<p class="muted">This section could not be drawn: {escape(body)}</p>'
        sections.append(f'<h2 id="section-{escape(name)}">{escape(section.title)}</h2>\n'
                        f'<p class="muted">Added by plugin {escape(entry.plugin)}.</p>\n{body}')
    return sections


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


def cost_points(board: pd.DataFrame, score: str, cost: str, direction: str) -> pd.DataFrame:
    """The families with both a score and a positive cost, marked when on the Pareto front."""
    rows = board.dropna(subset=[score, cost])
    rows = rows[rows[cost] > 0]
    points = pd.DataFrame({"family": rows["family"], "kind": rows["kind"],
                           "cost": rows[cost].astype(float),
                           "score": rows[score].astype(float)}).reset_index(drop=True)
    front = pareto_front(list(zip(points["cost"], points["score"], strict=True)),
                         direction == "maximize")
    return points.assign(on_front=points.index.isin(front))


def cost_charts(figures: Figures, board: pd.DataFrame, metric: str, direction: str) -> str:
    score = f"test_{metric}"
    charts = []
    for cost, title in [("fit_s", "fit seconds"),
                        ("predict_ms_per_1k", "prediction ms per 1,000 rows")]:
        points = cost_points(board, score, cost, direction)
        if not points.empty:
            charts.append(figures.add(charts_.cost_chart(
                f"cost-{cost}", points, f"{title} (log scale)", f"test {metric}")))
    for column, title in [(score, f"test {metric}"),
                          ("fit_s", "fit seconds (refit on the training split)"),
                          ("compile_s", "compile seconds (deep families)"),
                          ("n_params", "parameters (deep families)"),
                          ("search_s", "search seconds (all trials)")]:
        rows = board.dropna(subset=[column]) if column in board else board.iloc[:0]
        if not rows.empty:
            bars = pd.DataFrame({"label": rows["family"], "kind": rows["kind"],
                                 "value": rows[column].astype(float)})
            charts.append(figures.add(charts_.bar_chart(f"bars-{column}", bars, title)))
    return '<div class="charts">' + "".join(charts) + "</div>"


TREATMENTS = {
    "numeric": "classical: median-imputed, with a missing indicator; GBMs: as is, blanks "
               "included; MLP: imputed, standardised or quantile-mapped, optionally "
               "embedded",
    "boolean": "as a 0/1 number (as numeric)",
    "categorical": "classical: {encoding}; GBMs: native categories; MLP: a learned "
                   "embedding",
    "datetime": "split into year, month, day, weekday, day of year and hour",
    "text": "TF-IDF of words and word pairs, reduced to 20 SVD components",
}
MINORITY_SHARE = 0.2
"""Below this share of the rarest class, accuracy says little: the verdict says so."""


def data_section(record: RunRecord) -> str:
    """The data as the engine read it: notes, each column's type, missing share, distinct
    values and treatment (tables), the class balance, and the per-class recall of the
    compared families."""
    data = record.run["dataset"]
    parts = ["<h2>Data</h2>"]
    parts += [f"<p>Note: {escape(note)}.</p>" for note in data.get("notes") or []]
    if data.get("columns"):
        rows = [{"column": c["name"], "type": c["type"],
                 "missing": f"{c['missing_share']:.1%}", "distinct": c["distinct"],
                 "what the families do with it": treatment(c)} for c in data["columns"]]
        parts.append(table(pd.DataFrame(rows)))
    counts = data.get("class_counts") or []
    if counts:
        total = sum(counts)
        balance = pd.DataFrame({"class": data["class_names"], "training rows": counts,
                                "share": [f"{c / total:.1%}" for c in counts]})
        for family in best_of_each_kind(record):
            recall = class_recall(record.tables["predictions"], family,
                                  len(data["class_names"]))
            if recall is not None:
                balance[f"test recall of {family}"] = [f"{r:.3f}" for r in recall]
        parts += ["<p><b>Class balance</b> (training split), with the per-class recall on "
                  "the test split of the best classical and the best deep family:</p>",
                  table(balance)]
    return "\n".join(parts) if len(parts) > 1 else ""


def treatment(column: dict) -> str:
    """What the families do with a column, in words (its note when it is left out)."""
    if column["type"] not in TREATMENTS:
        return column["note"] or "left out"
    # as TableEncoder decides, by the values in the training rows (here: in the file)
    encoding = "one-hot" if column["distinct"] <= ONE_HOT_MAX else "target-encoded"
    return TREATMENTS[column["type"]].format(encoding=encoding)


def best_of_each_kind(record: RunRecord) -> list[str]:
    """The best-scored classical family and the best-scored deep one (those present)."""
    board = record.leaderboard.dropna(subset=[f"test_{record.run['metric']}"])
    return [rows.iloc[0]["family"] for _, rows in board.groupby("kind", sort=False)]


def class_recall(predictions: pd.DataFrame, family: str, n_classes: int):
    """The share of each class's test rows that `family` predicted right."""
    if family not in predictions:
        return None
    truth, predicted = predictions["y_true"].astype(int), predictions[family].astype(int)
    return [float((predicted[truth == c] == c).mean()) if (truth == c).any() else np.nan
            for c in range(n_classes)]


def imbalance_warning(record: RunRecord) -> str:
    """A sentence when accuracy is optimised on classes with a rare one."""
    counts = record.run["dataset"].get("class_counts") or []
    if record.run["metric"] != "accuracy" or not counts:
        return ""
    share = min(counts) / sum(counts)
    if share >= MINORITY_SHARE:
        return ""
    rarest = record.run["dataset"]["class_names"][int(np.argmin(counts))]
    return (f" The rarest class ({rarest}) is {share:.1%} of the training rows, so "
            "accuracy rewards predicting the common classes: balanced_accuracy "
            "([metrics] optimize = \"balanced_accuracy\") is the better choice here.")


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
    return text + imbalance_warning(record)


def significance(record: RunRecord, figures: Figures) -> str:
    comparison, scores = record.tables["comparison"], record.tables["seed_scores"]
    if comparison.empty:
        return ""
    metric = record.run["metric"]
    intervals = pd.concat([
        comparison[[f"family_{side}", f"mean_{side}", f"low_{side}", f"high_{side}"]]
        .set_axis(["family", "mean", "low", "high"], axis=1) for side in ("a", "b")])
    summary = scores.groupby("family")["score"].agg(["mean", "min", "max"]).reset_index()
    return "\n".join([
        "<h2>Is the difference real?</h2>",
        f'<p class="muted">Each compared family refitted with {int(comparison.seeds.max())}'
        f" seeds on the same training split and scored on the test split: mean "
        f"{escape(metric)} with its 95% interval, and a paired t-test over the seeds.</p>",
        table(comparison),
        figures.add(charts_.interval_chart(
            "significance", intervals.drop_duplicates("family"),
            f"test {metric}: mean and 95% interval")),
        table(summary)])


def depth_section(record: RunRecord, figures: Figures) -> str:
    trials, board = record.tables["trials"], record.leaderboard
    plots = []
    for family in board[board["kind"] == "deep"]["family"]:
        rows = trials[(trials.family == family) & (trials.state == "complete")]
        points = pd.DataFrame({"trial": rows["trial"],
                               "depth": [json.loads(p).get("depth") for p in rows.params],
                               "score": rows["cv_mean"]}).dropna()
        if points.empty:
            continue
        best = points.groupby("depth")["score"].transform(
            "max" if record.run["metric_direction"] == "maximize" else "min")
        plots.append(figures.add(charts_.depth_chart(
            f"depth-{family}", points.assign(best=points["score"] == best),
            f"{family}: validation score by depth", "validation score")))
    parts = []
    if plots:
        parts += ["<p class=\"muted\">Every completed trial of each deep family: its "
                  "validation score against its number of layers; the best trial of each "
                  "depth in orange.</p>", '<div class="charts">', *plots, "</div>"]
    found = record.tables["importances"]
    if not found.empty:
        parts += ["<p class=\"muted\">Which choices mattered: Optuna's fANOVA importance of "
                  "each searched parameter (shares of the score's variance), per family.</p>",
                  '<div class="charts">',
                  *(importance_table(rows, family) for family, rows
                    in found.groupby("family", sort=False)), "</div>"]
    return "<h2>Does depth help?</h2>" + "".join(parts) if parts else ""


def features_section(record: RunRecord, figures: Figures) -> str:
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
    bars = pd.DataFrame({"label": best["family"] + " on " + best["representation"],
                         "kind": best["kind"], "value": best["score"]})
    return "\n".join([
        "<h2>Features: engineered or learned?</h2>",
        f'<p class="muted">Test {escape(metric)} of each classical family\'s best '
        "configuration on the raw input and refitted on engineered features (fitted on the "
        "training split), beside the deep families, which learn their features from the "
        "raw input.</p>",
        figures.add(charts_.bar_chart("features", bars,
                                      f"best test {metric} per representation")),
        table(scores)])


def importance_table(rows: pd.DataFrame, family: str) -> str:
    cells = "".join(
        f"<tr><td class=\"text\">{escape(str(r.param))}</td><td><div style=\"width:"
        f"{120 * r.importance:.0f}px;height:10px;background:#3b6ea8\"></div></td>"
        f"<td>{r.importance:.2f}</td></tr>"
        for r in rows.sort_values("importance", ascending=False).head(8).itertuples())
    return (f"<div><p><b>{escape(family)}</b></p><table><tbody>{cells}</tbody></table>"
            "</div>")


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


def search_section(record: RunRecord, figures: Figures) -> str:
    trials, direction = record.tables["trials"], record.run["metric_direction"]
    history = best_so_far(trials, direction)
    parts = ["<h2>Search</h2>",
             '<p class="muted">Best score so far against trial number and against the '
             "family's seconds of trials (CV mean for classical families, validation score "
             "for deep ones).</p>"]
    if not history.empty:
        parts += ['<div class="charts">',
                  figures.add(charts_.band_chart(
                      "history-trials", history.rename(columns={"trial": "x"}),
                      "best score so far by trial", "trial", "best score", step=True)),
                  figures.add(charts_.band_chart(
                      "history-seconds", history[history["elapsed"] > 0].rename(
                          columns={"elapsed": "x"}), "best score so far by seconds of trials",
                      "seconds of trials (log scale)", "best score", log_x=True, step=True)),
                  "</div>"]
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


def best_so_far(trials: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Per family, the best score of its completed trials so far (column y) at each trial
    number and at the family's cumulative trial seconds (elapsed)."""
    ordered = trials.sort_values(["family", "trial"]).copy()
    ordered["elapsed"] = ordered.groupby("family")["duration_s"].cumsum()
    complete = ordered[ordered["state"] == "complete"]
    best = complete.groupby("family")["cv_mean"]
    best = best.cummax() if direction == "maximize" else best.cummin()
    return pd.DataFrame({"series": complete["family"], "trial": complete["trial"],
                         "elapsed": complete["elapsed"], "y": best})


def learning_section(record: RunRecord, figures: Figures) -> str:
    curves = record.tables["learning_curves"].dropna(subset=["score"])
    if curves.empty:
        return ""
    board, run = record.leaderboard, record.run
    stats = curves.groupby(["family", "n_train"])["score"].agg(["mean", "std"]).fillna(0.0)
    stats = stats.reset_index()
    lines = pd.DataFrame({"series": stats["family"], "x": stats["n_train"],
                          "y": stats["mean"], "low": stats["mean"] - stats["std"],
                          "high": stats["mean"] + stats["std"]})
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
    parts.append(figures.add(charts_.band_chart(
        "learning-curves", lines, f"test {run['metric']} by training samples",
        "training samples (log scale)", f"test {run['metric']}", log_x=True)))
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


def _environment_rows(run: dict) -> list[tuple[str, str]]:
    rows = [(key, str(value)) for key, value in run.items()
            if key not in ("versions", "dataset", "compared")]
    rows += [(f"version of {name}", version) for name, version in run["versions"].items()]
    return rows
