"""The report section "For whom does it work?": each family's test score per group
(``[report] groups``, `automl.analyses.subgroups`), the worst group and the gaps, and
whether the compared pair's answer changes from group to group."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from automl.analyses.subgroups import MIN_RANKED_ROWS
from automl.report import charts as charts_
from automl.report.context import SectionContext


def subgroups(context: SectionContext) -> Markup | None:
    """Per grouping: a chart of every family's score per group with intervals, the
    verdict sentences and the gaps table; the per-group table at the end."""
    scores = context.tables["subgroups"]
    if scores.empty:
        return None
    gaps, pairs = context.tables["subgroup_gaps"], context.tables["subgroup_pairs"]
    metric = scores["metric"].iloc[0]
    parts = []
    for grouping, rows in scores.groupby("grouping", sort=False):
        chart = context.plot(charts_.group_interval_chart(
            f"subgroups-{grouping}", rows[["family", "group", "score", "low", "high",
                                           "ranked", "rows"]],
            f"test {metric} by {grouping}: score and 95% interval"))
        found = gaps[gaps.grouping == grouping]
        small = sorted(rows.loc[~rows.ranked.astype(bool), "group"].unique())
        sentences = [*pair_sentences(pairs[pairs.grouping == grouping], grouping),
                     gap_sentence(found, grouping)]
        if small:
            named = ", ".join(small[:8]) + (f" and {len(small) - 8} more"
                                            if len(small) > 8 else "")
            sentences.append(f"Under {MIN_RANKED_ROWS} test rows, and so shown but not "
                             f"ranked: {named}.")
        parts.append({"grouping": grouping, "chart": chart, "sentences": sentences,
                      "gaps": context.table(_gap_table(found))})
    table = scores.assign(**{c: scores[c].map(_number) for c in ("score", "low", "high")})
    shown = table[["family", "kind", "grouping", "group", "rows", "score", "low", "high",
                   "ranked"]]
    return context.template("sections/subgroups.html", parts=parts, group_metric=metric,
                            minimum=MIN_RANKED_ROWS, every_group=context.table(shown,
                                                                         sortable=True))


def pair_sentences(pairs: pd.DataFrame, grouping: str) -> list[str]:
    """Whether the compared pair's answer (which one is ahead, by a paired interval
    that excludes no difference) changes from one ranked group to another."""
    sentences = []
    for (a, b), rows in pairs.groupby(["family_a", "family_b"], sort=False):
        ranked = rows[rows.ahead.fillna("") != ""]
        if ranked.empty:
            continue
        leads = {name: list(ranked.group[ranked.ahead == name]) for name in (a, b)}
        ties = list(ranked.group[ranked.ahead == "tie"])
        if leads[a] and leads[b]:
            sentences.append(
                f"By {grouping}, the answer changes: {a} is ahead of {b} for "
                f"{', '.join(leads[a])} and behind it for {', '.join(leads[b])}.")
        elif leads[a] or leads[b]:
            leader = a if leads[a] else b
            other = b if leader == a else a
            rest = f"; they tie for {', '.join(ties)}" if ties else ""
            sentences.append(f"By {grouping}, the answer does not change: {leader} is "
                             f"ahead of {other} for {', '.join(leads[leader])}{rest}.")
        else:
            sentences.append(f"By {grouping}, {a} and {b} tie in every ranked group (each "
                             "paired interval of their difference holds zero).")
    return sentences


def gap_sentence(gaps: pd.DataFrame, grouping: str) -> str:
    """Which family has the smallest gap between its ranked groups, and which others
    its interval cannot tell apart from it."""
    scored = gaps.dropna(subset=["gap"]).sort_values("gap")
    if scored.empty:
        return (f"By {grouping}, fewer than two groups have {MIN_RANKED_ROWS} test rows: "
                "no gap between groups is ranked.")
    best = scored.iloc[0]
    if best.gap_low != best.gap_low:  # its resamples were cut by the time limit
        return (f"By {grouping}, the smallest gap between groups is {best.family}'s: "
                f"{best.gap:.3g}, its worst group {best.worst_group} at "
                f"{best.worst_score:.3g}; without its interval (the analyses' time ran "
                "out) no family can be told apart from it.")
    others = scored.iloc[1:]
    close = list(others.family[others.gap_low <= best.gap_high])
    unknown = list(others.family[others.gap_low.isna()])
    interval = f" [{best.gap_low:.3g}, {best.gap_high:.3g}]"
    told = (f"; {', '.join(close)} are within its interval, not told apart" if close
            else "; no other family's gap is within its interval")
    if unknown:
        told += f" ({', '.join(unknown)} without an interval: the analyses' time ran out)"
    return (f"By {grouping}, the smallest gap between groups is {best.family}'s: "
            f"{best.gap:.3g}{interval}, its worst group {best.worst_group} at "
            f"{best.worst_score:.3g}{told}.")


def _gap_table(gaps: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame({
        "family": gaps.family, "kind": gaps.kind, "ranked groups": gaps.ranked_groups,
        "worst group": gaps.worst_group,
        "worst score": [_interval(s, lo, hi) for s, lo, hi in
                        zip(gaps.worst_score, gaps.worst_low, gaps.worst_high, strict=True)],
        "gap": [_interval(s, lo, hi) for s, lo, hi in
                zip(gaps.gap, gaps.gap_low, gaps.gap_high, strict=True)]})
    if gaps.selection_rate_difference.notna().any():
        shown["selection rate gap"] = gaps.selection_rate_difference.map(_number)
        shown["equalized odds gap"] = gaps.equalized_odds_difference.map(_number)
    return shown


def _interval(value, low, high) -> str:
    if value != value:
        return ""
    return f"{value:.3g}" + (f" [{low:.3g}, {high:.3g}]" if low == low else "")


def _number(value) -> str:
    return "" if value != value else f"{value:.3g}"
