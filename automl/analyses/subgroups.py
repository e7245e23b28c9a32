"""For whom does it work? Each family's (and the ensemble's) test score within each group
of the rows that ``[report] groups`` names, with intervals, the worst group and the gap
between groups; for binary classification also the gaps in selection rate and in true-
and false-positive rates (demographic parity and equalized odds); and, for the compared
pair, which of the two is ahead in each group.

The point estimates come from fairlearn's `MetricFrame`. The intervals come from one
bootstrap that resamples the rows within each group (each group keeps its size) and
is shared by every family, so that the pair's difference in a group is paired. Groups
under `MIN_RANKED_ROWS` test rows get a score and an interval but are flagged: they
take no part in the worst group, the gaps or the verdict. Everything here is measured
on the test split, after every choice was made on validation scores: it estimates and
chooses nothing.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from automl.analyses.api import Analysis, AnalysisContext
from automl.analyses.measures import families_to_compare
from automl.api.metrics import Metric

MIN_RANKED_ROWS = 30
"""Groups with fewer test rows are flagged, not ranked."""
BOOTSTRAPS = 200
INTERSECTION = " × "
"""Joins the names of group columns scored together (``sex × class``)."""

GROUP_COLUMNS = ["family", "kind", "grouping", "group", "rows", "metric", "score", "low",
                 "high", "ranked", "selection_rate", "true_positive_rate",
                 "false_positive_rate"]
GAP_COLUMNS = ["family", "kind", "grouping", "metric", "ranked_groups", "worst_group",
               "worst_score", "worst_low", "worst_high", "gap", "gap_low", "gap_high",
               "selection_rate_difference", "true_positive_rate_difference",
               "false_positive_rate_difference", "equalized_odds_difference"]
PAIR_COLUMNS = ["family_a", "family_b", "grouping", "group", "rows", "score_a", "score_b",
                "difference", "low", "high", "ahead"]


def _accuracy(y_true, y_pred, y_proba=None) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


ACCURACY = Metric("accuracy", "maximize", frozenset({"classification"}), _accuracy)


def group_metric(metric: Metric, metrics: Mapping[str, Metric]) -> Metric:
    """The metric groups are scored with: the optimised one unless it needs class
    probabilities (the test predictions kept are labels), then the first reported one
    that does not, else accuracy."""
    for candidate in (metric, *metrics.values()):
        if not candidate.needs_proba:
            return candidate
    return ACCURACY


def groupings(groups: pd.DataFrame) -> dict[str, pd.Series]:
    """Each group column alone and, with two or more, their intersection: a name
    (``sex × class``) and each row's group (``female · First``)."""
    found = {name: groups[name] for name in groups.columns}
    if groups.shape[1] > 1:
        found[INTERSECTION.join(groups.columns)] = groups.astype(str).agg(" · ".join, axis=1)
    return found


def group_order(group: str) -> tuple:
    """Sorts groups as a reader expects: quartiles by their bounds (``<= 28``, ``28-36``,
    ``> 45``), other names alphabetically, ``(blank)`` last; intersections part by part."""
    def part(name: str) -> tuple:
        if name == "(blank)":
            return (3, 0.0, "")
        for rank, pattern in ((0, r"<= (\S+)"), (1, r"(-?[\d.e+]+)-(?:-?[\d.e+]+)"),
                              (2, r"> (\S+)")):
            found = re.fullmatch(pattern, name)
            if found:
                try:
                    return (rank, float(found.group(1)), "")
                except ValueError:
                    break
        return (1, float("inf"), name)
    return tuple(part(name) for name in group.split(" · "))


def family_predictions(context: AnalysisContext) -> dict[str, tuple[str, np.ndarray]]:
    """Each family with a model, and the rows the analyses before this one added to
    the leaderboard (the ensemble): its kind and its test predictions."""
    found = {result.outcome.family.name: (result.outcome.family.kind,
                                          np.asarray(result.test.predictions))
             for result in context.results
             if result.test is not None and result.test.predictions is not None}
    for row in context.leaderboard_rows:
        if row["family"] in context.prediction_columns:
            found[row["family"]] = (row.get("kind", ""),
                                    np.asarray(context.prediction_columns[row["family"]]))
    return found


def subgroups(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    """The `subgroups`, `subgroup_gaps` and `subgroup_pairs` tables (module docstring)."""
    metric = group_metric(context.metric, context.metrics)
    y = np.asarray(context.dataset.test.y)
    binary = (context.dataset.info.task_type == "classification"
              and context.dataset.info.n_classes == 2)
    predictions = family_predictions(context)
    pairs = [pair for pair in families_to_compare(context.results, context.metric)
             if all(name in predictions for name in pair)]
    rng = np.random.default_rng(context.seed)
    rows, gaps, paired = [], [], []
    for grouping, labels in groupings(context.dataset.groups).items():
        members = {str(g): np.flatnonzero(labels.to_numpy() == g)
                   for g in sorted(labels.unique(), key=group_order)}
        # one seed per group: every family's resamples of it are the same rows (paired)
        draws = {g: int(rng.integers(2**32)) for g in members}
        boots = {}
        for family, (kind, predicted) in predictions.items():
            if context.cutoff.reached(f"subgroup intervals of {family} by {grouping}"):
                boots[family] = None
            else:
                boots[family] = {g: _bootstrap(metric.score, y[r], predicted[r], draws[g])
                                 for g, r in members.items()}
            found = _frame(metric, y, predicted, labels, binary)
            rows += _group_rows(family, kind, grouping, metric, found, boots[family])
            gaps.append(_gap_row(family, kind, grouping, metric, found, boots[family],
                                 binary))
        for a, b in pairs:
            paired += _pair_rows(a, b, grouping, members, metric, y, predictions,
                                 boots.get(a), boots.get(b))
    return {"subgroups": pd.DataFrame(rows, columns=GROUP_COLUMNS),
            "subgroup_gaps": pd.DataFrame(gaps, columns=GAP_COLUMNS),
            "subgroup_pairs": pd.DataFrame(paired, columns=PAIR_COLUMNS)}


def _quiet(score: Callable, *arguments) -> float:
    """A score of a group, NaN where the metric has none (one class in the group, a
    single row): those warnings say what the NaN says."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(score(*arguments))
        except ValueError:
            return float("nan")


def _bootstrap(score: Callable, y: np.ndarray, predicted: np.ndarray,
               seed: int) -> np.ndarray:
    """The group's score on each of `BOOTSTRAPS` resamples of its rows, drawn from
    `seed` one at a time (a test split of 300,000 rows would need 480 MB at once)."""
    rng = np.random.default_rng(seed)
    scores = np.empty(BOOTSTRAPS)
    for draw in range(BOOTSTRAPS):
        rows = rng.integers(0, len(y), len(y))
        scores[draw] = _quiet(score, y[rows], predicted[rows], None)
    return scores


def _frame(metric: Metric, y: np.ndarray, predicted: np.ndarray, labels: pd.Series,
           binary: bool) -> pd.DataFrame:
    """fairlearn's per-group table: rows, score and, for two classes, selection rate
    and true- and false-positive rates (the positive class: the second)."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    scored = {"rows": count, "score": lambda t, p: _quiet(metric.score, t, p, None)}
    if binary:
        scored |= {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                   "false_positive_rate": false_positive_rate}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(metrics=scored, y_true=y, y_pred=predicted,
                            sensitive_features=labels.rename("group")).by_group
    frame.index = frame.index.astype(str)
    return frame


def _interval(values: np.ndarray | None) -> tuple[float, float]:
    if values is None or not np.isfinite(values).any():
        return float("nan"), float("nan")
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def _group_rows(family, kind, grouping, metric, frame, boots) -> list[dict]:
    return [{"family": family, "kind": kind, "grouping": grouping, "group": group,
             "rows": int(row["rows"]), "metric": metric.name, "score": float(row["score"]),
             **dict(zip(("low", "high"), _interval(None if boots is None else boots[group]),
                        strict=True)),
             "ranked": bool(row["rows"] >= MIN_RANKED_ROWS),
             **{rate: float(row[rate]) if rate in row else float("nan")
                for rate in ("selection_rate", "true_positive_rate",
                             "false_positive_rate")}}
            for group, row in frame.iterrows()]


def _worst(scores: pd.Series | np.ndarray, maximize: bool):
    return np.nanmin(scores, axis=0) if maximize else np.nanmax(scores, axis=0)


def _gap_row(family, kind, grouping, metric, frame, boots, binary) -> dict:
    """The worst ranked group and the largest gap between ranked groups, with their
    intervals over the shared bootstrap."""
    ranked = frame[(frame["rows"] >= MIN_RANKED_ROWS) & frame["score"].notna()]
    row = dict.fromkeys(GAP_COLUMNS, float("nan")) | {
        "family": family, "kind": kind, "grouping": grouping, "metric": metric.name,
        "ranked_groups": len(ranked), "worst_group": ""}
    if ranked.empty:
        return row
    maximize = metric.direction == "maximize"
    worst = ranked["score"].idxmin() if maximize else ranked["score"].idxmax()
    row |= {"worst_group": worst, "worst_score": float(ranked.loc[worst, "score"])}
    if boots is not None:
        draws = np.array([boots[group] for group in ranked.index])
        row["worst_low"], row["worst_high"] = _interval(_worst(draws, maximize))
    if len(ranked) < 2:
        return row
    row["gap"] = float(ranked["score"].max() - ranked["score"].min())
    if boots is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a resample with no score in a group: NaN
            row["gap_low"], row["gap_high"] = _interval(
                np.nanmax(draws, axis=0) - np.nanmin(draws, axis=0))
    if binary:
        spread = ranked.max() - ranked.min()
        row |= {f"{rate}_difference": float(spread[rate])
                for rate in ("selection_rate", "true_positive_rate", "false_positive_rate")}
        row["equalized_odds_difference"] = max(row["true_positive_rate_difference"],
                                               row["false_positive_rate_difference"])
    return row


def _pair_rows(a, b, grouping, members, metric, y, predictions, boots_a, boots_b
               ) -> list[dict]:
    """Per group: the compared pair's scores, their paired difference (a - b) with its
    interval, and which is ahead ("tie" where the interval holds 0)."""
    maximize = metric.direction == "maximize"
    rows = []
    for group, positions in members.items():
        score_a = _quiet(metric.score, y[positions], predictions[a][1][positions], None)
        score_b = _quiet(metric.score, y[positions], predictions[b][1][positions], None)
        low, high = (_interval(boots_a[group] - boots_b[group])
                     if boots_a is not None and boots_b is not None
                     else (float("nan"), float("nan")))
        if len(positions) < MIN_RANKED_ROWS or not low == low:
            ahead = ""
        elif low > 0 or high < 0:
            ahead = a if (low > 0) == maximize else b
        else:
            ahead = "tie"
        rows.append({"family_a": a, "family_b": b, "grouping": grouping, "group": group,
                     "rows": len(positions), "score_a": score_a, "score_b": score_b,
                     "difference": score_a - score_b, "low": low, "high": high,
                     "ahead": ahead})
    return rows


SUBGROUPS = Analysis(
    name="subgroups", title="subgroups", run=subgroups, order=250, cost=0.5,
    tables={"subgroups": GROUP_COLUMNS, "subgroup_gaps": GAP_COLUMNS,
            "subgroup_pairs": PAIR_COLUMNS},
    applies=lambda context: context.dataset.groups is not None)
