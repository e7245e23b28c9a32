"""The report's words worked out from the numbers: the verdict at the top of the page,
the imbalance warning, and what the families do with each column."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from automl.analyses.splits import split_summary
from automl.api.models import KINDS
from automl.api.results import RunRecord
from automl.data.tables import ONE_HOT_MAX, Column

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
RARE_CLASS = 0.4
"""A class is rare below this fraction of the share an even split would give it (20% of
two classes, 4% of ten): then accuracy says little, and the verdict says so."""


def treatment(column: Column) -> str:
    """What the families do with a column, in words (its note when it is left out)."""
    if column.type not in TREATMENTS:
        return column.note or "left out"
    # as TableEncoder decides, by the values in the training rows (here: in the file)
    encoding = "one-hot" if column.distinct <= ONE_HOT_MAX else "target-encoded"
    return TREATMENTS[column.type].format(encoding=encoding)


def best_by_kind(record: RunRecord) -> dict[str, str]:
    """The best-scored family of each kind present, "classical" and "deep" (the ensemble
    row is neither), in leaderboard order."""
    board = record.leaderboard.dropna(subset=[f"test_{record.run.metric}"])
    board = board[board["kind"].isin(KINDS)]
    return {kind: rows.iloc[0]["family"] for kind, rows in board.groupby("kind", sort=False)}


def best_of_each_kind(record: RunRecord) -> list[str]:
    """The best-scored classical family and the best-scored deep one (those present)."""
    return list(best_by_kind(record).values())


def class_recall(predictions: pd.DataFrame, family: str, n_classes: int):
    """The share of each class's test rows that `family` predicted right."""
    if family not in predictions:
        return None
    truth, predicted = predictions["y_true"].astype(int), predictions[family].astype(int)
    return [float((predicted[truth == c] == c).mean()) if (truth == c).any() else np.nan
            for c in range(n_classes)]


def imbalance_warning(record: RunRecord) -> str:
    """A sentence when accuracy is optimised on classes with a rare one."""
    counts = record.run.dataset.class_counts
    if record.run.metric != "accuracy" or not counts:
        return ""
    share = min(counts) / sum(counts)
    if share >= RARE_CLASS / len(counts):
        return ""
    rarest = record.run.dataset.class_names[int(np.argmin(counts))]
    return (f" The rarest class ({rarest}) is {share:.1%} of the training rows, so "
            "accuracy rewards predicting the common classes: balanced_accuracy "
            "([metrics] optimize = \"balanced_accuracy\") is the better choice here.")


def verdict(record: RunRecord, extras: Sequence[str] = ()) -> str:
    """One paragraph from the numbers: which family the validation scores picked, what its
    test score estimates, which families the folds cannot separate from it, whether
    "classical or deep" is decided, at what cost; then the `extras` sentences (whether
    the best classical and deep families look at the same features, and what the
    ensemble adds). Every choice in it is made on validation scores: the test columns
    are only reported."""
    board, metric = record.leaderboard, record.run.metric
    column = f"test_{metric}"
    scored = board.dropna(subset=[column])
    scored = scored[scored["kind"].isin(KINDS)]  # the ensemble has its own sentence
    if scored.empty:
        return "No family produced a test score; see the failures below."
    best = scored.iloc[0]
    text = (f"{best['family']} ({best['kind']}) was picked, on the best validation "
            f"{metric} ({validation(best)}); its test {metric}, the estimate for new rows, "
            f"is {best[column]:.4f}; fitted in {best['fit_s']:.2f} s, predicting 1,000 "
            f"rows in {best['predict_ms_per_1k']:.1f} ms.")
    ties = record.tables.get("ties", pd.DataFrame())
    text += tie_sentence(ties, str(best["family"]))
    if len(scored) > 1:
        runner = scored.iloc[1]
        text += (f" Next by validation: {runner['family']} ({validation(runner)}; test "
                 f"{runner[column]:.4f}).")
    by_kind = {kind: rows.iloc[0] for kind, rows in scored.groupby("kind", sort=False)}
    if len(by_kind) == 2:
        classical, deep = by_kind["classical"], by_kind["deep"]
        text += (f" Best classical: {classical['family']} (validation "
                 f"{classical['cv_mean']:.4f}, test {classical[column]:.4f}), fitted in "
                 f"{classical['fit_s']:.2f} s after {classical['search_s']:.0f} s of "
                 f"search; best deep: {deep['family']} (validation {deep['cv_mean']:.4f}, "
                 f"test {deep[column]:.4f}), fitted in {deep['fit_s']:.2f} s "
                 f"(+{deep['compile_s']:.1f} s compiling) after {deep['search_s']:.0f} s "
                 "of search.")
        text += kinds_sentence(ties, str(classical["family"]), str(deep["family"]))
    elif len(by_kind) == 1:
        text += f" Only {next(iter(by_kind))} families were compared."
    text += splits_sentence(record)
    comparison = record.tables["comparison"]
    if not comparison.empty:
        text += " " + seed_test(comparison.iloc[0])
    return text + "".join(f" {extra}" for extra in extras if extra) + imbalance_warning(record)


def validation(row: pd.Series) -> str:
    """A leaderboard row's validation score in words: mean and spread over the folds."""
    if pd.isna(row["cv_std"]):
        return f"{row['cv_mean']:.4f}"
    return f"{row['cv_mean']:.4f} ± {row['cv_std']:.4f} over the folds"


def tie_sentence(ties: pd.DataFrame, pick: str) -> str:
    """Which families the validation folds cannot separate from the pick."""
    if ties.empty or pick not in set(ties["family"]):
        return ""
    tied = [str(name) for name in ties.loc[ties["tied"].astype(bool), "family"]
            if name != pick]
    if not tied:
        return (f" No other family is tied with it: each is behind by more than the "
                f"folds' spread allows (corrected resampled t-test, p < 0.05 over "
                f"{len(ties)} families).")
    return (f" The validation folds cannot separate it from {join(tied)} (corrected "
            "resampled t-test, p >= 0.05): "
            f"{'they are' if len(tied) > 1 else 'the two are'} tied, and "
            f"{'any of them' if len(tied) > 1 else 'either'} is as good an answer.")


def kinds_sentence(ties: pd.DataFrame, classical: str, deep: str) -> str:
    """Whether the validation folds decide "classical or deep" on this data: whether the
    best family of the other kind is tied with the pick."""
    pick = ties.iloc[0]["family"] if not ties.empty else None
    if pick not in (classical, deep) or {classical, deep} - set(ties["family"]):
        return ""
    other = deep if pick == classical else classical
    row = ties.set_index("family").loc[other]
    if bool(row["tied"]):
        return (f" Classical or deep is not decided on this data: {other} is within the "
                f"folds' reach of {pick} ({row['difference']:+.4f} in validation).")
    kind = "classical" if pick == classical else "deep"
    return (f" Classical or deep is decided for {kind} on this data: {other} is "
            f"{abs(row['difference']):.4f} behind in validation, outside what the folds' "
            "spread allows.")


def outer_summary(record: RunRecord) -> pd.DataFrame:
    """The run's outer splits summed up per family (`automl.analyses.splits.split_summary`; empty
    for a run of one split)."""
    splits = record.tables.get("splits", pd.DataFrame())
    data = record.run.dataset
    return split_summary(splits, record.run.metric_direction,
                         data.n_test / (data.n_train + data.n_test))


def splits_sentence(record: RunRecord) -> str:
    """What the outer splits say: the family with the best mean validation score, how
    often it was picked, its mean test score with the interval, the families tied with
    it over the splits, and whether classical or deep is decided over them."""
    summary = outer_summary(record)
    if summary.empty:
        return ""
    metric, pick = record.run.metric, summary.iloc[0]
    splits = int(pick["splits"])
    text = (f" Over {splits} outer train/test splits, {pick['family']} has the best mean "
            f"validation {metric} and was picked on {int(pick['picked'])} of them; its "
            f"mean test {metric} is {pick['test_mean']:.4f} (95% interval "
            f"{pick['test_low']:.4f} to {pick['test_high']:.4f}; optimism "
            f"{pick['optimism']:+.4f}).")
    tied = [str(name) for name in summary.loc[summary["tied"].astype(bool), "family"]
            if name != pick["family"]]
    text += (f" Tied with it over the splits (corrected resampled t-test, p >= 0.05): "
             f"{join(tied)}." if tied else
             " Every other family is behind it over the splits (corrected resampled "
             "t-test, p < 0.05).")
    by_kind = {kind: rows.iloc[0] for kind, rows in summary.groupby("kind", sort=False)
               if kind in KINDS}
    if len(by_kind) == 2:
        leader = pick if pick["kind"] in KINDS else None
        if leader is not None:
            other = by_kind["deep" if leader["kind"] == "classical" else "classical"]
            text += (f" Classical or deep over the splits: not decided ({other['family']} "
                     f"is tied with {leader['family']})." if other["tied"] else
                     f" Classical or deep over the splits: decided for {leader['kind']} "
                     f"({other['family']} is {abs(other['difference']):.4f} behind in "
                     "mean test score, outside the test's reach).")
    return text


def join(names: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def seed_test(pair: pd.Series) -> str:
    """A sentence on one row of the comparison table: both means over the seeds and
    whether their difference is significant."""
    real = pair["p_value"] < 0.05
    return (f"Refitted with {int(pair['seeds'])} seeds on the same split (training noise, "
            f"not split noise), {pair['family_a']} averaged "
            f"{pair['mean_a']:.4f} and {pair['family_b']} {pair['mean_b']:.4f}: the "
            f"difference ({pair['difference']:+.4f}) is "
            f"{'statistically significant' if real else 'not statistically significant'} "
            f"(paired t-test p = {pair['p_value']:.3g}).")
