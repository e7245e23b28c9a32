"""Analyses run after the search, on the refitted best configurations.

"Is the difference real?": the best classical and the best deep family (and any pair the
task names) are refitted with several seeds on the same training split and scored on the
test split; the report shows each family's mean with a 95% interval and a paired t-test
between them (the same seeds pair the runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from automl.datasets import Dataset
from automl.evaluate import score_estimator
from automl.leaderboard import FamilyResult
from automl.metrics import Metric


def families_to_compare(results: Sequence[FamilyResult], metric: Metric,
                        named: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Pairs of family names to compare: best classical vs best deep (or the two best
    families when one kind is missing), then the pair the task names."""
    scored = [r for r in results if r.test is not None]
    scored.sort(key=lambda r: r.test.scores[metric.name],
                reverse=metric.direction == "maximize")
    best = {}
    for result in scored:
        best.setdefault(result.outcome.family.kind, result.outcome.family.name)
    if len(best) == 2:
        pairs = [(best["classical"], best["deep"])]
    elif len(scored) >= 2:
        pairs = [(scored[0].outcome.family.name, scored[1].outcome.family.name)]
    else:
        pairs = []
    if len(named) == 2 and tuple(named) not in pairs:
        pairs.append((named[0], named[1]))
    return pairs


def seed_scores(results: Sequence[FamilyResult], families: set[str], dataset: Dataset,
                metric: Metric, seeds: int, device: str) -> pd.DataFrame:
    """Test scores of each family's best parameters refitted with seeds 0..seeds-1."""
    rows = []
    for result in results:
        family, best = result.outcome.family, result.outcome.best_trial
        if family.name not in families or best is None:
            continue
        for seed in range(seeds):
            estimator = family.build(best.params, dataset.info, seed, device)
            estimator.fit(dataset.train.X, dataset.train.y)
            score = score_estimator(estimator, dataset.test.X, dataset.test.y, dataset.info,
                                    {metric.name: metric})[metric.name]
            rows.append({"family": family.name, "seed": seed, "score": score})
    return pd.DataFrame(rows, columns=["family", "seed", "score"])


def interval(scores: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the t-distribution confidence interval of the mean."""
    mean = float(np.mean(scores))
    if len(scores) < 2 or np.std(scores) == 0:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + level / 2, len(scores) - 1) * stats.sem(scores)
    return mean, mean - half, mean + half


def compare(scores: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Per pair: each family's mean and 95% interval, the mean difference, and the
    p-value of a paired t-test over seeds (NaN when the differences do not vary)."""
    rows = []
    for a, b in pairs:
        left = scores[scores.family == a].set_index("seed")["score"]
        right = scores[scores.family == b].set_index("seed")["score"]
        common = left.index.intersection(right.index)
        if len(common) < 2:
            continue
        left, right = left[common].to_numpy(), right[common].to_numpy()
        mean_a, low_a, high_a = interval(left)
        mean_b, low_b, high_b = interval(right)
        differences = left - right
        p_value = (float(stats.ttest_rel(left, right).pvalue)
                   if np.std(differences) > 0 else (1.0 if differences[0] == 0 else math.nan))
        rows.append({"family_a": a, "family_b": b, "seeds": len(common),
                     "mean_a": mean_a, "low_a": low_a, "high_a": high_a,
                     "mean_b": mean_b, "low_b": low_b, "high_b": high_b,
                     "difference": mean_a - mean_b, "p_value": p_value})
    return pd.DataFrame(rows, columns=["family_a", "family_b", "seeds", "mean_a", "low_a",
                                       "high_a", "mean_b", "low_b", "high_b", "difference",
                                       "p_value"])


def disagreements(predictions: pd.DataFrame, a: str, b: str, limit: int = 24) -> pd.DataFrame:
    """Test rows where families `a` and `b` predict different classes (at most `limit`),
    those where one of them is right first."""
    differ = predictions[predictions[a] != predictions[b]].copy()
    differ["one_right"] = (differ[a] == differ["y_true"]) | (differ[b] == differ["y_true"])
    differ = differ.sort_values(["one_right", "row"], ascending=[False, True])
    return differ.drop(columns="one_right").head(limit)
