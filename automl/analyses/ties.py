"""Which families the validation folds cannot tell apart.

Every family is scored on the same folds of the training split (`automl.fitting.evaluate.
task_folds`), so their fold scores pair up fold by fold. Two tests read those pairs, and
neither looks at the test split:

- the corrected resampled t-test of Nadeau and Bengio (2003) between the family the
  validation scores pick and each other family: fold scores share most of their training
  rows, so a plain paired t-test over folds is overconfident; the correction inflates the
  variance by the ratio of scoring to fitting rows (1 / (k - 1) for k folds);
- the Friedman test over all families at once, with each family's mean rank over the
  folds and the Nemenyi critical difference (Demšar, 2006): two families whose mean ranks
  differ by less than it are not told apart.

A family whose difference from the pick is not significant (p >= `LEVEL`) is *tied* with
it: the verdict names the tie set rather than one winner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from automl.analyses.leaderboard import by_validation
from automl.api.metrics import Metric
from automl.api.results import FamilyResult
from automl.data.folds import scoring_to_fitting

LEVEL = 0.05
COLUMNS = ["family", "kind", "cv_mean", "difference", "p_value", "tied", "mean_rank",
           "friedman_p", "critical_difference"]


def corrected_ttest(a: np.ndarray, b: np.ndarray, test_to_train: float) -> float:
    """Two-sided p-value of Nadeau and Bengio's corrected resampled t-test on paired scores
    of resamples whose scoring rows are `test_to_train` times as many as their fitting
    rows (1 / (k - 1) for k folds): the variance of the differences is inflated by that
    ratio, since the resamples share most of their fitting rows. 1.0 when the scores are
    identical, NaN with fewer than two pairs."""
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(differences) < 2:
        return math.nan
    variance = np.var(differences, ddof=1)
    mean = float(np.mean(differences))
    if variance == 0:
        return 1.0 if mean == 0 else 0.0
    scale = math.sqrt((1 / len(differences) + test_to_train) * variance)
    return float(2 * stats.t.sf(abs(mean) / scale, len(differences) - 1))


def fold_scores(results: Sequence[FamilyResult], metric: Metric, folds: int
                ) -> dict[str, np.ndarray]:
    """Each refitted family's best trial's scores on the task's `folds` folds, best
    validation first (a family searched on a subsample is scored on its rows of the same
    folds). Left out: best trials with another number of scores (from a run of another
    protocol)."""
    found = {}
    for result in by_validation(results, metric):
        scores = result.outcome.best_trial.user_attrs.get("cv_scores", [])
        if len(scores) == folds:
            found[result.outcome.family.name] = np.asarray(scores, dtype=float)
    return found


def mean_ranks(scores: dict[str, np.ndarray], direction: str) -> dict[str, float]:
    """Each family's rank on each fold (1 the best, ties sharing the mean), averaged;
    `direction` is the metric's ("maximize" or "minimize")."""
    table = np.column_stack(list(scores.values()))
    sign = -1.0 if direction == "maximize" else 1.0
    ranks = stats.rankdata(sign * table, axis=1)
    return dict(zip(scores, ranks.mean(axis=0).tolist(), strict=True))


def friedman(scores: dict[str, np.ndarray]) -> dict[str, float]:
    """The Friedman test's p-value over all families and the Nemenyi critical difference
    of mean ranks at `LEVEL` (NaN where fewer than three families or two folds)."""
    k = len(scores)
    n = len(next(iter(scores.values()))) if scores else 0
    if k < 3 or n < 2:
        return {"p_value": math.nan, "critical_difference": math.nan}
    try:
        p_value = float(stats.friedmanchisquare(*scores.values()).pvalue)
    except ValueError:  # every family ranked the same on every fold
        p_value = 1.0
    if not math.isfinite(p_value):
        p_value = 1.0
    q = stats.studentized_range.ppf(1 - LEVEL, k, np.inf) / math.sqrt(2)
    return {"p_value": p_value, "critical_difference": float(q * math.sqrt(k * (k + 1)
                                                                           / (6 * n)))}


def tie_table(results: Sequence[FamilyResult], metric: Metric, folds: int) -> pd.DataFrame:
    """One row per family with fold scores, best validation first: its validation mean,
    its difference from the pick (the first), the corrected t-test's p-value against the
    pick, whether it is tied with the pick, and its mean rank over the folds; the
    Friedman test's p-value and the critical difference of mean ranks (the same on every
    row). Empty with one holdout share (`folds` 1): one score per family allows no test.
    """
    scores = fold_scores(results, metric, folds) if folds > 1 else {}
    if not scores:
        return pd.DataFrame(columns=COLUMNS)
    kinds = {r.outcome.family.name: r.outcome.family.kind for r in results}
    pick = next(iter(scores))
    ranks = mean_ranks(scores, metric.direction)
    overall = friedman(scores)
    rows = []
    for name, values in scores.items():
        p_value = (1.0 if name == pick else
                   corrected_ttest(scores[pick], values, scoring_to_fitting(folds)))
        rows.append({"family": name, "kind": kinds[name], "cv_mean": float(values.mean()),
                     "difference": float(values.mean() - scores[pick].mean()),
                     "p_value": p_value,
                     "tied": bool(name == pick or not p_value < LEVEL),
                     "mean_rank": ranks[name], "friedman_p": overall["p_value"],
                     "critical_difference": overall["critical_difference"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def kinds_decided(ties: pd.DataFrame) -> str:
    """Whether the validation folds decide "classical or deep": the kind of the pick, when
    the best family of the other kind is not tied with it; "" when they tie (or a kind
    is missing)."""
    kinds = ties.drop_duplicates("kind").set_index("kind")
    if not {"classical", "deep"} <= set(kinds.index):
        return ""
    other = "deep" if ties.iloc[0]["kind"] == "classical" else "classical"
    return "" if kinds.loc[other, "tied"] else str(ties.iloc[0]["kind"])
