"""The validation protocol: which training rows score every family of a task.

One rule for all families, so that their validation scores compare fold by fold: the
task's folds (`validation_folds`: by the training rows unless the task sets
``cv_folds``), each training row's fold drawn once (`fold_labels`) and kept by every
subsample of the split (`automl.data.datasets.Split.folds`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, StratifiedShuffleSplit

from automl.data.datasets import DatasetInfo, Split

HOLDOUT_SHARE = 0.2
"""With one validation fold (`validation_folds` gives 1 on large tables), the share of
the training rows that scores every family; the rest only fit."""
FOLDS_BY_ROWS = ((20_000, 5), (100_000, 3))
"""The default validation folds: 5 below 20,000 training rows, 3 below 100,000, and one
holdout share above (the rule AutoGluon follows as data grows): a fold's fit costs about
as much as a refit, so a large table's search would otherwise see few rows or trials."""


def validation_folds(n_train: int, requested: int | None) -> int:
    """The folds that score every family of a task: `requested` (``[search] cv_folds``)
    where the task sets it, otherwise by the training rows (`FOLDS_BY_ROWS`); 1 means one
    holdout share of `HOLDOUT_SHARE`."""
    if requested is not None:
        return requested
    return next((folds for rows, folds in FOLDS_BY_ROWS if n_train < rows), 1)


def describe_validation(folds: int, n_train: int, task_type: str) -> str:
    """The protocol in words, for the terminal and the report."""
    stratified = " (stratified)" if task_type == "classification" else ""
    if folds == 1:
        return (f"one seeded holdout share{stratified} of {HOLDOUT_SHARE:.0%} of the "
                f"{n_train:,} training rows, the same for every family")
    return f"the same {folds} seeded folds{stratified} of the {n_train:,} training rows"


def fold_labels(info: DatasetInfo, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each training row's validation fold: the fold (0 to `folds` - 1) whose score it
    counts in, or -1 for a row that only fits (`folds` == 1: one holdout share).
    Stratified for classification, where every class has enough rows."""
    labels = np.full(len(y), -1)
    stratify = info.task_type == "classification"
    if folds == 1:
        splitters = [StratifiedShuffleSplit, ShuffleSplit] if stratify else [ShuffleSplit]
        arguments = {"n_splits": 1, "test_size": HOLDOUT_SHARE, "random_state": seed}
    else:
        splitters = [StratifiedKFold, KFold] if stratify else [KFold]
        arguments = {"n_splits": folds, "shuffle": True, "random_state": seed}
    for splitter in splitters:
        try:
            with warnings.catch_warnings():  # a class rarer than the folds: said by the run
                warnings.simplefilter("ignore", UserWarning)
                split = list(splitter(**arguments).split(np.zeros(len(y)), y))
        except ValueError:  # a class too rare to stratify: plain folds
            continue
        for fold, (_, scored) in enumerate(split):
            labels[scored] = fold
        return labels
    raise ValueError(f"cannot make {folds} validation folds of {len(y)} rows")


def task_folds(info: DatasetInfo, train: Split, folds: int, seed: int
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The validation protocol, one for every family of a task: `folds` seeded folds of
    the training rows (stratified for classification; one holdout share where `folds` is
    1), as (fitting rows, scoring rows). Every family's validation scores come from these
    very rows, so they compare fold by fold: a subsample of the training split keeps its
    rows' folds (`Split.folds`). A family that stops early or picks an epoch takes its
    stopping rows from inside each fold's fitting rows (`score_fold`), never from the
    rows that score it."""
    labels = train.folds
    if labels is None or len(labels) != len(train.y) or not set(range(folds)) <= set(
            np.unique(labels)) or labels.max() >= folds:
        labels = fold_labels(info, train.y, folds, seed)
    return [(np.flatnonzero(labels != fold), np.flatnonzero(labels == fold))
            for fold in range(folds)]


def fitting(folds: int) -> tuple[int, float]:
    """How many fits a trial makes, and on what share of its rows: one per
    fold of the task's folds (every family's protocol) on (folds - 1) / folds of them, or
    one on all but the holdout share."""
    return folds, (folds - 1) / folds if folds > 1 else 1 - HOLDOUT_SHARE


def scoring_to_fitting(folds: int) -> float:
    """The ratio of a fold's scoring rows to its fitting rows (1 / (k - 1) for k folds),
    which the corrected resampled t-test needs (`automl.analyses.ties.corrected_ttest`)."""
    fitted = fitting(folds)[1]
    return (1 - fitted) / fitted
