"""Sections for three claims people make about classical ML and deep learning, measured on
the run: what each family looks at (interpretability), whether depth helps (a sweep, not
the search's draws), and whether classical and deep together beat either (an ensemble).
The numbers come from `automl.analyses.explain`, `automl.analyses.depth` and
`automl.analyses.ensemble`."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from markupsafe import Markup

from automl.analyses.depth import summary as depth_summary
from automl.analyses.depth import verdict as depth_verdict
from automl.analyses.ensemble import ENSEMBLE_ROUNDS
from automl.analyses.ensemble import NAME as ENSEMBLE
from automl.analyses.explain import agreement, shared_top
from automl.api.results import RunRecord
from automl.report import charts as charts_
from automl.report.context import SectionContext
from automl.report.summary import best_by_kind, seed_test

METHODS = {"permutation": "permutation (test split)",
           "coefficients": "|coefficients|", "impurity": "impurity decrease",
           "gradient_x_input": "gradient x input"}
TOP_FEATURES = 12


def looks_at(context: SectionContext) -> Markup | None:
    """Permutation importances of every family (pictures for images and sequences, a
    heat map of the top features otherwise), the native importances beside, and how far
    the families agree."""
    found = context.tables.get("explanations", pd.DataFrame())
    if found is None or found.empty:
        return None
    pictures = None
    if found["grid_row"].notna().any():
        pictures = [{"family": family, "kind": rows["kind"].iloc[0], "images": [
            {"method": METHODS.get(method, method), "uri": heat_data_uri(part)}
            for method, part in rows.groupby("method", sort=False)]}
            for family, rows in found.groupby("family", sort=False)]
    permuted = found[found.method == "permutation"]
    top = (permuted.groupby("feature")["importance"].mean().nlargest(TOP_FEATURES).index)
    heat = permuted[permuted.feature.isin(top)]
    chart = context.plot(charts_.heatmap_chart(
        "importances", heat.assign(value=heat.groupby("family")["importance"].transform(
            lambda v: v / (v.abs().max() or 1.0))), "family", "feature",
        f"permutation importance of the {len(top)} most important features "
        "(each family's largest = 1)", list(top)))
    matrix = agreement(found)
    cells = matrix.reset_index(names="a").melt(id_vars="a", var_name="b", value_name="value")
    agreement_chart = context.plot(charts_.heatmap_chart(
        "agreement", cells, "a", "b", "rank correlation (Spearman) of the families' "
        "permutation importances", list(matrix.columns), diverging=True))
    return context.template("sections/looks_at.html", pictures=pictures, chart=chart,
                            agreement=agreement_chart, sentence=agreement_sentence(context.record),
                            n_features=permuted["feature"].nunique())


def agreement_sentence(record: RunRecord) -> str:
    """Whether the best classical and the best deep family rely on the same features."""
    found = record.tables.get("explanations", pd.DataFrame())
    best = best_by_kind(record)
    if found is None or found.empty or len(best) != 2:
        return ""
    classical, deep = best["classical"], best["deep"]
    matrix = agreement(found)
    if classical not in matrix or deep not in matrix:
        return ""
    rho = float(matrix.loc[classical, deep])
    shared = shared_top(found, classical, deep)
    n = found[found.method == "permutation"]["feature"].nunique()
    how = ("largely the same features" if rho >= 0.6 else "partly the same features"
           if rho >= 0.3 else "different features")
    return (f"The best classical family ({classical}) and the best deep one ({deep}) rely "
            f"on {how}: the rank correlation of their permutation importances over {n} "
            f"features is {rho:.2f}, and {shared} of their {min(10, n)} most important "
            "features are the same.")


def heat_data_uri(rows: pd.DataFrame) -> str:
    """A PNG of importances on their grid (white at 0, dark red at the largest; values
    below 0, which permutation gives features that do not matter, as 0), enlarged."""
    from PIL import Image
    height, width = int(rows.grid_row.max()) + 1, int(rows.grid_col.max()) + 1
    grid = np.zeros((height, width))
    grid[rows.grid_row.astype(int), rows.grid_col.astype(int)] = rows.importance.clip(lower=0)
    share = grid / (grid.max() or 1.0)
    white, red = np.array([255, 255, 255]), np.array([165, 15, 21])
    pixels = (white + share[..., None] * (red - white)).astype(np.uint8)
    scale = max(1, 128 // max(height, width)) if height > 1 else max(1, 256 // width)
    picture = Image.fromarray(pixels).resize((width * scale, max(height * scale, 16)),
                                             Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def depth_swept(context: SectionContext) -> Markup | None:
    """The depth sweep: score against depth with its 95% band per family, the parameters
    and fit seconds per depth, and which depth is best."""
    sweep = context.tables.get("depth_sweep", pd.DataFrame())
    if sweep is None or sweep.empty or sweep["score"].notna().sum() == 0:
        return None
    table = depth_summary(sweep)
    lines = pd.DataFrame({"series": table["family"], "x": table["depth"],
                          "y": table["mean"], "low": table["low"], "high": table["high"]})
    metric = context.run.metric
    chart = charts_.band_chart("depth-sweep", lines,
                               f"test {metric} by depth (mean and 95% interval)", "depth",
                               f"test {metric}")
    for layer in chart.spec["layer"]:  # depths are whole numbers
        layer["encoding"]["x"]["axis"] = {"tickMinStep": 1, "format": "d"}
    chart = context.plot(chart)
    verdicts = [text for text in (depth_verdict(sweep, family, context.run.metric_direction)
                                  for family in table["family"].unique()) if text]
    failed = sweep[sweep["error"].notna() & (sweep["error"] != "")]
    return context.template("sections/depth_sweep.html", chart=chart, summary=table,
                            verdicts=verdicts, seeds=int(sweep.seed.max()) + 1,
                            failed=None if failed.empty else failed)


def together(context: SectionContext) -> Markup | None:
    """The ensemble's weights, its test score against the best single family's, and
    whether the gain holds over the seeds."""
    weights = context.tables.get("ensemble", pd.DataFrame())
    board = context.leaderboard
    if weights is None or weights.empty or ENSEMBLE not in set(board.family):
        return None
    return context.template("sections/together.html", weights=weights,
                            sentence=ensemble_sentence(context.record),
                            validation=context.run.validation, rounds=ENSEMBLE_ROUNDS)


def ensemble_sentence(record: RunRecord) -> str:
    """Where the blend ranks against the best single family on out-of-fold validation
    (which chooses: `predict` uses the blend when it ranks first), with which weights,
    what the test split estimates for both, and whether the gain is significant over the
    seeds."""
    board, metric = record.leaderboard, record.run.metric
    column = f"test_{metric}"
    rows = board.dropna(subset=[column])
    if ENSEMBLE not in set(rows.family):
        return ""
    blend = rows[rows.family == ENSEMBLE].iloc[0]
    singles = rows[rows.family != ENSEMBLE]
    if singles.empty:
        return ""
    single = singles.iloc[0]
    first = rows.iloc[0]["family"] == ENSEMBLE
    text = (f"The ensemble ({blend['note'].split(', chosen')[0].removeprefix('weights ')}) "
            + ("ranks first on validation, so predict uses it" if first else
               f"ranks below {single['family']} on validation")
            + f": validation {metric} {blend['cv_mean']:.4f} (its weights chosen on 4/5 "
            f"of the out-of-fold predictions, scored on the other 1/5, as a gain over the "
            f"best family on those rows) against "
            f"{single['family']}'s {single['cv_mean']:.4f}; on test, {blend[column]:.4f} "
            "against "
            f"{single[column]:.4f} ({blend[column] - single[column]:+.4f}).")
    comparison = record.tables["comparison"]
    tested = comparison[comparison.family_a == ENSEMBLE]
    if not tested.empty:
        text += " " + seed_test(tested.iloc[0])
    elif set(record.tables["ensemble"].query("weight > 0 and family != @ENSEMBLE")
             .family) == {single["family"]}:
        text += " The selection gave all the weight to that family alone."
    return text
