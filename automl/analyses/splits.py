"""Outer splits: does the verdict survive another train/test split?

One split decides too much on small data (on Titanic's 262 test rows one row is 0.38
points, and three split seeds named three different winners). With `[search] repeats` =
R, search, refit and test run on R seeded train/test splits. Per split, each family's
validation score (which picks, as on one split) and its test score (which estimates);
over the splits, per family: the mean test score with a 95% t-interval, how often
validation picked it, its mean optimism, and whether it is tied with the overall pick.

The overall pick is the family with the best mean validation score over the splits. Two
families' test scores over the splits are compared by the corrected resampled t-test of
Nadeau and Bengio (2003): the splits' training sets overlap, so the variance of the
differences is inflated by n_test / n_train; all families at once by a Friedman test
over the splits, with the Nemenyi critical difference of mean ranks (Demšar, 2006).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from automl.analyses.leaderboard import by_validation
from automl.analyses.measures import interval
from automl.analyses.ties import LEVEL, corrected_ttest, friedman, mean_ranks
from automl.api.metrics import Metric
from automl.api.results import FamilyResult

AUTO_REPEATS = 3
LARGE_ROWS = 20_000
"""Under a time limit, tables of fewer training rows than this get `AUTO_REPEATS` outer
splits by default; larger ones one (a second split of a large table moves the scores
little, and costs as much as the first)."""
SPLIT_SECONDS_PER_FAMILY = 15
"""The least time limit per outer split and family for the default to make several:
below it, a split's share of the search would leave families without a trial (20 text
families at 600 s over three splits had 2.6 s each for a first trial of five folds, and
11 of them got no model)."""
COLUMNS = ["split", "split_seed", "family", "kind", "cv_mean", "test", "picked"]
SUMMARY_COLUMNS = ["family", "kind", "splits", "cv_mean", "test_mean", "test_low",
                   "test_high", "picked", "optimism", "difference", "p_value", "tied",
                   "mean_rank", "friedman_p", "critical_difference"]


def outer_splits(repeats: int | None, n_train: int, time_limit: float | None,
                 ships_test_split: bool, families: int) -> int:
    """How many outer splits a run makes: the task's `repeats`, else `AUTO_REPEATS` under
    a time limit of at least `SPLIT_SECONDS_PER_FAMILY` per split and family (of
    `families` searched) on fewer than `LARGE_ROWS` training rows, else one; always one
    for data that ships its own test split (there is no other split to draw)."""
    if ships_test_split:
        return 1
    if repeats is not None:
        return repeats
    if time_limit is None or n_train >= LARGE_ROWS:
        return 1
    enough = AUTO_REPEATS * SPLIT_SECONDS_PER_FAMILY * max(families, 1)
    return AUTO_REPEATS if time_limit >= enough else 1


def split_table(per_split: Sequence[Sequence[FamilyResult]], seeds: Sequence[int],
                metric: Metric) -> pd.DataFrame:
    """One row per split and refitted family: its validation score, its test score and
    whether validation picked it on that split (the leaderboard's first)."""
    rows = []
    for split, (results, seed) in enumerate(zip(per_split, seeds, strict=True)):
        ranked = by_validation(results, metric)
        for place, result in enumerate(ranked):
            rows.append({"split": split, "split_seed": seed,
                         "family": result.outcome.family.name,
                         "kind": result.outcome.family.kind,
                         "cv_mean": result.outcome.best_trial.value,
                         "test": result.test.scores.get(metric.name, math.nan),
                         "picked": place == 0})
    return pd.DataFrame(rows, columns=COLUMNS)


def split_summary(table: pd.DataFrame, direction: str, test_share: float) -> pd.DataFrame:
    """Per family scored on every split, best mean validation first: mean validation,
    mean test score with its 95% t-interval over the splits, how many splits picked it,
    its mean optimism, its test difference from the overall pick (the first) with the
    corrected t-test's p-value, whether it is tied with the pick, its mean rank over
    the splits, and the Friedman test's p-value and critical difference (on every row).
    `direction` is the metric's; empty with fewer than two splits."""
    splits = table["split"].nunique() if len(table) else 0
    if splits < 2:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    complete = table.groupby("family").filter(lambda rows: rows["test"].notna().sum()
                                              == splits)
    if complete.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    sign = 1.0 if direction == "maximize" else -1.0
    validation = complete.groupby("family", sort=False)["cv_mean"].mean()
    order = sorted(validation.index, key=lambda name: -sign * validation[name])
    tests = {name: complete[complete["family"] == name].sort_values("split")["test"]
             .to_numpy(dtype=float) for name in order}
    pick = order[0]
    ranks, overall = mean_ranks(tests, direction), friedman(tests)
    rows = []
    for name in order:
        rows_of = complete[complete["family"] == name]
        scores = tests[name]
        mean, low, high = interval(scores)
        p_value = (1.0 if name == pick else
                   corrected_ttest(tests[pick], scores, test_share / (1 - test_share)))
        rows.append({
            "family": name, "kind": rows_of["kind"].iloc[0], "splits": splits,
            "cv_mean": float(validation[name]), "test_mean": mean, "test_low": low,
            "test_high": high,
            "picked": int(rows_of["picked"].sum()),
            "optimism": float(sign * (rows_of["cv_mean"] - rows_of["test"]).mean()),
            "difference": float(scores.mean() - tests[pick].mean()), "p_value": p_value,
            "tied": bool(name == pick or not p_value < LEVEL), "mean_rank": ranks[name],
            "friedman_p": overall["p_value"],
            "critical_difference": overall["critical_difference"]})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
