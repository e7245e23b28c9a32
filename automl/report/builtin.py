"""The report's built-in sections, registered through the same hook as a plugin's (this
module is the built-in plugin ``report``).

Each section is a function of the `SectionContext` that returns its body rendered from a
template of ``templates/sections`` (None when the run has nothing to show there); the
numbers it shows are worked out here, the markup is in the template.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pandas as pd
from markupsafe import Markup

from automl import hookimpl
from automl.analyses.leaderboard import report_param_columns
from automl.analyses.measures import crossover, disagreements
from automl.api.models import KINDS
from automl.fitting.budget import TimePlan
from automl.report import charts as charts_
from automl.report.context import SectionContext
from automl.report.distinctions import depth_swept, looks_at, together
from automl.report.section import ReportSection
from automl.report.subgroups import subgroups
from automl.report.summary import (
    best_by_kind,
    best_of_each_kind,
    class_recall,
    outer_summary,
    treatment,
)


def data(context: SectionContext) -> Markup | None:
    """The data as the engine read it: notes, each column's type, missing share, distinct
    values and treatment (tables), the class balance, and the per-class recall of the
    compared families."""
    dataset = context.run.dataset
    columns = balance = None
    if dataset.columns:
        columns = pd.DataFrame([{"column": c.name, "type": c.type,
                                 "missing": f"{c.missing_share:.1%}", "distinct": c.distinct,
                                 "what the families do with it": treatment(c)}
                                for c in dataset.columns])
    if dataset.class_counts:
        total = sum(dataset.class_counts)
        balance = pd.DataFrame({"class": dataset.class_names,
                                "training rows": dataset.class_counts,
                                "share": [f"{c / total:.1%}" for c in dataset.class_counts]})
        for family in best_of_each_kind(context.record):
            recall = class_recall(context.tables["predictions"], family,
                                  len(dataset.class_names))
            if recall is not None:
                balance[f"test recall of {family}"] = [f"{r:.3f}" for r in recall]
    if not dataset.notes and columns is None and balance is None:
        return None
    return context.template("sections/data.html", data=dataset, columns=columns,
                            balance=balance)


def leaderboard(context: SectionContext) -> Markup:
    board = context.leaderboard
    cut = (board.dropna(subset=["texts_truncated"]) if "texts_truncated" in board
           else board.iloc[:0])
    return context.template("sections/leaderboard.html", board=board.drop(
        columns=["best_params"]), n_test=context.run.dataset.n_test,
        validation=context.run.validation,
        truncated=[(row.family, int(row.texts_truncated)) for row in cut.itertuples()])


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


def cost(context: SectionContext) -> Markup:
    """Test score against fit and prediction cost, and a bar chart per cost."""
    board, metric = context.leaderboard, context.run.metric
    score = f"test_{metric}"
    charts = []
    for column, title in [("fit_s", "fit seconds"),
                          ("predict_ms_per_1k", "prediction ms per 1,000 rows")]:
        points = cost_points(board, score, column, context.run.metric_direction)
        if not points.empty:
            charts.append(context.plot(charts_.cost_chart(
                f"cost-{column}", points, f"{title} (log scale)", f"test {metric}")))
    for column, title in [(score, f"test {metric}"),
                          ("fit_s", "fit seconds (refit on the training split)"),
                          ("compile_s", "compile seconds (deep families)"),
                          ("train_rows_per_s", "training rows (texts) per second"),
                          ("predict_rows_per_s", "rows (texts) predicted per second"),
                          ("n_params", "parameters (deep families)"),
                          ("search_s", "search seconds (all trials)")]:
        rows = board.dropna(subset=[column]) if column in board else board.iloc[:0]
        if not rows.empty:
            bars = pd.DataFrame({"label": rows["family"], "kind": rows["kind"],
                                 "value": rows[column].astype(float)})
            charts.append(context.plot(charts_.bar_chart(f"bars-{column}", bars, title)))
    return context.template("sections/cost.html", charts=charts)


def shipping(context: SectionContext) -> Markup | None:
    """Which model can I ship? Test score against batch-1 latency (the ONNX export's
    where it agrees with the original, else the native model's), the serving table, and
    a sentence on the best classical and the best deep family."""
    serving = context.tables["serving"]
    if serving.empty:
        return None
    board, metric = context.leaderboard, context.run.metric
    score = f"test_{metric}"
    table = serving.merge(board[["family", "kind", score]], on="family", how="left")
    agrees = table["onnx_parity"] == "agrees"
    table["latency_ms"] = table["onnx_p50_ms"].where(agrees, table["native_p50_ms"])
    points = cost_points(table, score, "latency_ms", context.run.metric_direction)
    chart = context.plot(charts_.cost_chart(
        "ship-latency", points, "ms to answer one row (log scale)", f"test {metric}")) \
        if not points.empty else None
    lines = []
    for kind, family in best_by_kind(context.record).items():
        row = table[table.family == family]
        if row.empty:
            continue
        row = row.iloc[0]
        exported = {"agrees": f"its ONNX export in {row.onnx_p50_ms:.3g} ms",
                    "differs": "its ONNX export differs from it"}.get(
                        row.onnx_parity, "it has no ONNX export")
        lines.append(f"the best {kind} family ({family}) answers one row in "
                     f"{row.native_p50_ms:.3g} ms, {exported}")
    counted = table[table.family != "ensemble"]
    shown = pd.DataFrame({
        "family": table.family, f"test {metric}": table[score].map(_number),
        "ONNX": table.onnx_parity, "ms p50 / p99": [
            f"{a:.3g} / {b:.3g}" for a, b in zip(table.native_p50_ms, table.native_p99_ms,
                                                 strict=True)],
        "ONNX ms p50 / p99": [f"{a:.3g} / {b:.3g}" if e else "" for a, b, e in zip(
            table.onnx_p50_ms, table.onnx_p99_ms, table.exported, strict=True)],
        "rows/s (1,000)": table.native_rows_per_s.map(lambda v: f"{v:,.0f}"),
        "ONNX rows/s": table.onnx_rows_per_s.map(lambda v: "" if v != v else f"{v:,.0f}"),
        "MB": table.native_mb.map(_number), "ONNX MB": table.onnx_mb.map(_number),
        "load ms": table.native_load_ms.map(_number),
        "ONNX load ms": table.onnx_load_ms.map(_number),
        "why not exported": table.onnx_error.astype(object).fillna("")})
    outside = table.get("onnx_outside", pd.Series(dtype=object)).astype(object).fillna("")
    if outside.astype(bool).any():  # text networks' tokenizers (a run before them: none)
        shown.insert(3, "outside the graph", outside)
    return context.template(
        "sections/shipping.html", chart=chart, lines=lines, serving=context.table(shown),
        agree=int((counted.onnx_parity == "agrees").sum()), total=len(counted),
        differ=list(counted.family[counted.onnx_parity == "differs"]))


def more_data(context: SectionContext) -> Markup | None:
    """Would more data change the answer? Each family's learning curve extrapolated to
    2x, 5x and 10x the training rows, whether the fit passed its check, and the compared
    pair's predicted crossing."""
    table = context.tables["extrapolation"]
    if table.empty:
        return None
    metric = context.run.metric
    shown = pd.DataFrame({
        "family": table.family, "rows now": table.n_full.map(lambda v: f"{int(v):,}"),
        f"test {metric} now": table.measured_full.map(_number),
        "check (fit on up to half, at full size)": [
            "reliable" if ok else ("unreliable" if error == error else "too few sizes")
            for ok, error in zip(table.reliable, table.check_error, strict=True)],
        "check error": table.check_error.map(_number),
        **{f"{m}x rows": [f"{p:.3g} [{lo:.3g}, {hi:.3g}]" if ok else "" for p, lo, hi, ok
                          in zip(table[f"predicted_{m}x"], table[f"low_{m}x"],
                                 table[f"high_{m}x"], table.reliable, strict=True)]
           for m in (2, 5, 10)}})
    return context.template("sections/more_data.html", shown=context.table(shown),
                            sentences=[sentence for row in
                                       context.tables["crossing"].itertuples()
                                       for sentence in (_crossing_sentence(row),
                                                        _crossing_check(row)) if sentence])


def _crossing_sentence(row) -> str:
    other = row.family_b if row.leader_now == row.family_a else row.family_a
    if not row.reliable:
        return (f"Whether {other} would pass {row.leader_now} with more data cannot be "
                "said: a curve failed its check.")
    if not row.crosses:
        return (f"No crossing is predicted within 10x the training rows: {row.leader_now} "
                f"stays ahead of {other} (in {row.share_of_fits:.0%} of the bootstrap "
                "fits it is passed).")
    return (f"With about {row.crossing_rows:,.0f} training rows ({row.low_rows:,.0f} to "
            f"{row.high_rows:,.0f} over the bootstrap fits that cross, "
            f"{row.share_of_fits:.0%} of them), {other} would likely pass "
            f"{row.leader_now}." if row.share_of_fits >= 0.5 else
            f"The fit predicts {other} passing {row.leader_now} at about "
            f"{row.crossing_rows:,.0f} training rows, but only {row.share_of_fits:.0%} of "
            "the bootstrap fits agree: no crossing is likely.")


def more_search(context: SectionContext) -> Markup | None:
    """Would more search change the answer? Each family's best validation score against
    its search seconds, extrapolated to 10x those seconds, and whether any family is
    predicted to pass the pick."""
    table = context.tables["search_extrapolation"]
    if table.empty:
        return None
    sign = 1 if context.run.metric_direction == "maximize" else -1
    board = context.leaderboard[context.leaderboard.kind != "ensemble"]
    pick = board.family.iloc[0]
    own = table[table.family == pick]
    pick_reliable = bool(len(own)) and bool(own.reliable.iloc[0])
    target = float(own.predicted_10x.iloc[0]) if pick_reliable else float(
        board.cv_mean.iloc[0])
    # passing by more than the check's bound: a predicted lead within the folds' noise
    # is no change of winner
    others = table[(table.family != pick) & table.reliable.astype(bool)]
    margin = sign * (others.predicted_10x - target)
    passing, level = others[margin > others.check_bound], others[
        (margin > 0) & (margin <= others.check_bound)]
    what = "its predicted best with 10x its search" if pick_reliable else "its best now"
    if len(passing):
        sentences = [f"More search could change the winner: {row.family} is predicted to "
                     f"reach {row.predicted_10x:.4g} with 10x its search seconds (about "
                     f"{10 * row.seconds:,.0f} s), past {pick}'s {target:.4g} ({what})."
                     for row in passing.itertuples()]
    else:
        sentences = [f"No family is predicted to pass {pick} ({target:.4g}, {what}) with "
                     "10x its search seconds by more than its folds' noise: more search "
                     "would not change the winner."]
    if len(level):
        sentences.append(f"{', '.join(level.family)} would draw level with it, within "
                         "that noise: a tie, not a new winner.")
    unfitted = sorted(set(board.family) - set(table.family))
    if unfitted:
        sentences.append("Too few completed trials to extrapolate: " + ", ".join(unfitted)
                         + ".")
    shown = pd.DataFrame({
        "family": table.family, "trials": table.trials,
        "search s": table.seconds.map(_number), "best now": table.best_now.map(_number),
        "check": ["reliable" if ok else ("unreliable" if error == error else
                                         "too few trials") for ok, error in
                  zip(table.reliable, table.check_error, strict=True)],
        "check error": table.check_error.map(_number),
        **{f"{m}x seconds": [_number(v) if ok else "" for v, ok in
                             zip(table[f"predicted_{m}x"], table.reliable, strict=True)]
           for m in (2, 5, 10)}})
    return context.template("sections/more_search.html", sentences=sentences,
                            shown=context.table(shown))


def _crossing_check(row) -> str | None:
    """How well the fits on the first half of the sizes foresaw a crossing the curves
    show within the data (None where they show none)."""
    measured = getattr(row, "measured_crossing_rows", float("nan"))
    if measured != measured:
        return None
    early = row.early_crossing_rows
    foreseen = (f"fitted on the sizes up to half the data, the curves predicted it at "
                f"about {early:,.0f}" if early == early else
                "fitted on the sizes up to half the data, the curves predicted none")
    return (f"Within the data, {row.family_a} and {row.family_b} change places: the "
            f"measured curves keep their final order from {measured:,.0f} training rows; "
            f"{foreseen}.")


def _number(value) -> str:
    return "" if value != value else f"{value:.3g}"


def learning(context: SectionContext) -> Markup | None:
    """Learning curves, and where the best deep family overtakes the best classical."""
    run = context.run
    curves = context.tables["learning_curves"].dropna(subset=["score"])
    if curves.empty:
        return None
    stats = curves.groupby(["family", "n_train"])["score"].agg(["mean", "std"]).fillna(0.0)
    stats = stats.reset_index()
    lines = pd.DataFrame({"series": stats["family"], "x": stats["n_train"],
                          "y": stats["mean"], "low": stats["mean"] - stats["std"],
                          "high": stats["mean"] + stats["std"]})
    best = best_by_kind(context.record)
    text = (crossover(curves, best["classical"], best["deep"], run.metric_direction)
            if len(best) == 2 else None)
    points = context.tables["learning_curves"]
    failed = points[points["error"].notna() & (points["error"] != "")]  # CSV: blank is NaN
    chart = context.plot(charts_.band_chart(
        "learning-curves", lines, f"test {run.metric} by training samples",
        "training samples (log scale)", f"test {run.metric}", log_x=True))
    return context.template(
        "sections/learning.html", seeds=int(curves.seed.max()) + 1, crossover=text,
        classical=best.get("classical"), deep=best.get("deep"), chart=chart,
        failed=None if failed.empty else failed[["family", "n_train", "seed", "error"]]
        .drop_duplicates(subset=["family", "n_train"]))


def depth(context: SectionContext) -> Markup | None:
    """The depth sweep where the task asks for one (`distinctions.depth_swept`), each
    completed trial's validation score against each parameter its family declares for
    the report (`ModelFamily.report_params`: depth, for the deep families), and the
    fANOVA importance of every searched parameter."""
    trials, board = context.tables["trials"], context.leaderboard
    pick = "max" if context.run.metric_direction == "maximize" else "min"
    plots = []
    for param in report_param_columns(board):
        for family in board[board[param].notna()]["family"]:
            rows = trials[(trials.family == family) & (trials.state == "complete")]
            points = pd.DataFrame({"trial": rows["trial"],
                                   param: [json.loads(p).get(param) for p in rows.params],
                                   "score": rows["cv_mean"]}).dropna()
            if points.empty:
                continue
            best = points.groupby(param)["score"].transform(pick)
            plots.append(context.plot(charts_.param_chart(
                f"{param}-{family}", points.assign(best=points["score"] == best),
                f"{family}: validation score by {param}", "validation score", param)))
    found = context.tables["importances"]
    importances = [(family, rows.sort_values("importance", ascending=False).head(8)
                    .itertuples()) for family, rows in found.groupby("family", sort=False)]
    swept = depth_swept(context)
    if not plots and not importances and swept is None:
        return None
    return context.template("sections/depth.html", plots=plots, importances=importances,
                            swept=swept)


def features(context: SectionContext) -> Markup | None:
    """Engineered features (or encodings, on tables) against learned representations."""
    found = context.tables["features"]
    if found.empty:
        return None
    metric = context.run.metric
    scores = found.pivot_table(index=["family", "kind"], columns="representation",
                               values="score").reset_index()
    order = ["family", "kind", "raw", "learned"] + sorted(
        c for c in scores.columns if c not in ("family", "kind", "raw", "learned"))
    scores = scores[[c for c in order if c in scores.columns]]
    best = found.dropna(subset=["score"]).sort_values("score", ascending=(
        context.run.metric_direction == "minimize")).groupby("representation").head(1)
    bars = pd.DataFrame({"label": best["family"] + " on " + best["representation"],
                         "kind": best["kind"], "value": best["score"]})
    chart = context.plot(charts_.bar_chart("features", bars,
                                           f"best test {metric} per representation"))
    return context.template("sections/features.html", chart=chart, scores=scores)


def significance(context: SectionContext) -> Markup | None:
    """Split noise over the outer splits (mean test scores with intervals, ties with the
    pick) and from the validation folds (which families are tied with the pick), and
    training noise from the compared families' seed refits (intervals, paired t-test)."""
    comparison, scores = context.tables["comparison"], context.tables["seed_scores"]
    ties = context.tables.get("ties", pd.DataFrame())
    outer = outer_summary(context.record)
    if comparison.empty and ties.empty and outer.empty:
        return None
    shown = {"ties": None, "outer": None, "comparison": None}
    if len(ties):
        shown.update(ties=ties.drop(columns=["friedman_p", "critical_difference"]),
                     friedman_p=ties["friedman_p"].iloc[0],
                     critical_difference=ties["critical_difference"].iloc[0],
                     ranks_chart=critical_difference_chart(context, ties, "validation folds"))
    if len(outer):
        shown.update(
            outer=outer.drop(columns=["friedman_p", "critical_difference"]),
            outer_friedman_p=outer["friedman_p"].iloc[0],
            outer_critical_difference=outer["critical_difference"].iloc[0],
            outer_chart=context.plot(charts_.interval_chart(
                "outer_splits", outer[["family", "test_mean", "test_low", "test_high"]]
                .set_axis(["family", "mean", "low", "high"], axis=1),
                f"test {context.run.metric} over {int(outer['splits'].iloc[0])} outer "
                "splits: mean and 95% interval")),
            outer_ranks_chart=critical_difference_chart(context, outer, "outer splits"))
    if len(comparison):
        intervals = pd.concat([
            comparison[[f"family_{side}", f"mean_{side}", f"low_{side}", f"high_{side}"]]
            .set_axis(["family", "mean", "low", "high"], axis=1) for side in ("a", "b")])
        shown.update(
            comparison=comparison, seeds=int(comparison.seeds.max()),
            chart=context.plot(charts_.interval_chart(
                "significance", intervals.drop_duplicates("family"),
                f"test {context.run.metric}: mean and 95% interval")),
            summary=scores.groupby("family")["score"].agg(["mean", "min", "max"])
            .reset_index())
    return context.template("sections/significance.html", **shown)


def critical_difference_chart(context: SectionContext, table: pd.DataFrame, over: str):
    """Demšar's critical-difference view: each family's mean rank (1 the best) with a bar
    of half the critical difference either side, so that two families whose bars overlap
    are not told apart by the Nemenyi test. None where there is no critical difference
    (fewer than three families)."""
    difference = table["critical_difference"].iloc[0]
    if not np.isfinite(difference):
        return None
    ranks = pd.DataFrame({"family": table["family"], "mean": table["mean_rank"],
                          "low": table["mean_rank"] - difference / 2,
                          "high": table["mean_rank"] + difference / 2})
    return context.plot(charts_.interval_chart(
        f"ranks_{over.replace(' ', '_')}", ranks.sort_values("mean"),
        f"mean rank over the {over} (1 = best); overlapping bars: not told apart"))


def failures(context: SectionContext) -> Markup | None:
    """Confusion matrices of the compared pair and the test samples they disagree on."""
    pairs, classes = context.run.compared, context.run.dataset.class_names
    predictions = context.tables["predictions"]
    if not pairs or not classes:
        return None
    a, b = pairs[0]
    if a not in predictions or b not in predictions:
        return None
    matrices = [confusion(predictions["y_true"], predictions[family], classes,
                          f"{family}: true class (rows) by predicted (columns)")
                for family in (a, b)]
    differ = disagreements(predictions, a, b)
    images = rows = None
    examples = context.record.examples
    if len(differ) and "X" in examples:
        pixels = dict(zip(examples["rows"].tolist(), examples["X"], strict=True))
        images = [{"row": int(row["row"]), "uri": image_data_uri(pixels[int(row["row"])]),
                   "truth": classes[int(row["y_true"])], "by_a": classes[int(row[a])],
                   "by_b": classes[int(row[b])]}
                  for _, row in differ.iterrows() if int(row["row"]) in pixels]
    elif len(differ):
        rows = differ[["row", "y_true", a, b]].copy()
        for column in ("y_true", a, b):
            rows[column] = [classes[int(v)] for v in rows[column]]
        if "texts" in examples:  # the texts themselves (the template escapes them)
            texts = dict(zip(examples["rows"].tolist(), examples["texts"], strict=True))
            rows["text"] = [str(texts.get(int(row), "")) for row in rows["row"]]
    return context.template(
        "sections/failures.html", matrices=matrices, classes=classes, a=a, b=b,
        n_differ=int((predictions[a] != predictions[b]).sum()), shown=len(differ),
        images=images, rows=rows)


def confusion(y_true: pd.Series, y_pred: pd.Series, classes: list[str], title: str) -> dict:
    """A confusion matrix as the template draws it: counts shaded by their share of the
    largest."""
    n = len(classes)
    counts = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true.astype(int), y_pred.astype(int), strict=True):
        counts[t, p] += 1
    top = max(1, counts.max())
    return {"title": title, "rows": [
        {"name": name, "cells": [{"count": int(counts[i, j]), "shade": counts[i, j] / top}
                                 for j in range(n)]} for i, name in enumerate(classes)]}


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


def search(context: SectionContext) -> Markup:
    """Best score so far by trial and by seconds, trial counts, failures."""
    trials = context.tables["trials"]
    history = best_so_far(trials, context.run.metric_direction)
    charts = []
    if not history.empty:
        charts = [context.plot(charts_.band_chart(
                      "history-trials", history.rename(columns={"trial": "x"}),
                      "best score so far by trial", "trial", "best score", step=True)),
                  context.plot(charts_.band_chart(
                      "history-seconds", history[history["elapsed"] > 0].rename(
                          columns={"elapsed": "x"}), "best score so far by seconds of trials",
                      "seconds of trials (log scale)", "best score", log_x=True, step=True))]
    counts = trials.groupby(["family", "state"]).size().unstack(fill_value=0).reset_index()
    failed = trials[trials["state"] == "fail"]
    board = context.leaderboard
    board = board[board["kind"].isin(KINDS)]  # the ensemble's note is in its own section
    notes = board[board["note"].notna() & (board["note"] != "")]  # CSV: blank is NaN
    time_bound = ([] if "stopped_by" not in board else
                  board.loc[board["stopped_by"] == "time", "family"].tolist())
    subsampled = (board[board["rows_note"].notna() & (board["rows_note"] != "")]
                  if "rows_note" in board else board.iloc[:0])
    return context.template(
        "sections/search.html", charts=charts, counts=counts, time_bound=time_bound,
        subsampled=None if subsampled.empty else
        subsampled[["family", "search_rows", "fit_rows", "rows_note"]],
        plan=TimePlan(context.run.time_limit).describe(),
        failed=None if failed.empty else failed[["family", "trial", "error"]],
        notes=None if notes.empty else notes[["family", "note"]])


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


def best_parameters(context: SectionContext) -> Markup:
    board = context.leaderboard
    return context.table(board[board["kind"].isin(KINDS)][["family", "kind", "best_params"]])


def reproducibility(context: SectionContext) -> Markup:
    environment = pd.DataFrame(context.run.environment(), columns=["what", "value"])
    return context.template("sections/reproducibility.html", environment=environment)


SECTIONS = [
    ReportSection("data", "Data", data, order=100),
    ReportSection("leaderboard", "Leaderboard", leaderboard, order=200),
    ReportSection("cost", "Score and cost", cost, order=300),
    ReportSection("shipping", "Which model can I ship?", shipping, order=350),
    ReportSection("learning_curves", "How much data does each family need?", learning,
                  order=400),
    ReportSection("more_data", "Would more data change the answer?", more_data,
                  order=450),
    ReportSection("more_search", "Would more search change the answer?", more_search,
                  order=460),
    ReportSection("depth", "Does depth help?", depth, order=500),
    ReportSection("features", "Features: engineered or learned?", features, order=600),
    ReportSection("looks_at", "What does each family look at?", looks_at, order=650),
    ReportSection("significance", "Is the difference real?", significance, order=700),
    ReportSection("subgroups", "For whom does it work?", subgroups, order=720),
    ReportSection("together", "Classical and deep together", together, order=750),
    ReportSection("failures", "Where they fail", failures, order=800),
    ReportSection("search", "Search", search, order=900),
    ReportSection("best_parameters", "Best parameters", best_parameters, order=950),
    ReportSection("reproducibility", "Reproducibility", reproducibility, order=2000),
]


@hookimpl
def automl_register_report_sections(register):
    for section in SECTIONS:
        register(section)
