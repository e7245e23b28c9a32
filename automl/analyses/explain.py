"""What each family looks at: feature importances of the refitted models on the test split.

Every family gets permutation importance (scikit-learn's `permutation_importance`): how
much the test score drops when one feature's values are shuffled across the test rows.
A feature is a group of input values (its input kind's `feature_groups`,
`automl.data.input_kinds`): a column of a table, a pixel (or
a square patch, on images over 16x16) with all its channels, a window of time steps of a
sequence, or a word of a text (where a word's presence is what is shuffled: a row that
draws a row with the word gains it, one that draws a row without loses it).

Shuffling a group at once uses one trick: `permutation_importance` shuffles the columns
of a matrix whose every cell holds its row's number, and the model is scored on inputs
whose group g is taken from the row that column g names (`Splice`). That keeps
scikit-learn's repeats, seeding and averaging, for any input kind and any model.

Where a cheaper, exact reading of the model exists, it is given beside (`native`): the
magnitude of a linear model's coefficients, a tree ensemble's impurity decrease, and for
the Flax networks gradient x input (the gradient of the true class's log-probability
times the standardised input, averaged in magnitude over the test rows), each summed
over the same groups.

`agreement` ranks the families' permutation importances against each other (Spearman's
rank correlation): do the best classical and the best deep family look at the same
features?
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from automl.api.metrics import Metric, in_batches, predict_proba
from automl.api.results import FamilyResult
from automl.data.datasets import Dataset, DatasetInfo, take
from automl.data.input_kinds import Groups, kind_of
from automl.fitting.budget import NO_CUTOFF, StageCutoff

PERMUTATION_REPEATS = 3
MAX_ROWS = 1000
"""Test rows the importances are measured on (a stratified sample of larger splits):
each repeat predicts them once per feature."""
COLUMNS = ["family", "kind", "method", "measured_by", "feature", "grid_row", "grid_col",
           "importance", "std"]


class Splice:
    """The test inputs with each feature taken from the row a matrix of row numbers names:
    ``splice(rows)[i]`` is row i whose feature g comes from row ``rows[i, g]``."""

    def __init__(self, X, groups: Groups):
        self.X, self.groups = X, groups
        if groups.masks is not None:  # which group each of a sample's values is in
            self.owner = np.zeros(groups.masks[0].size, dtype=int)
            for g, mask in enumerate(groups.masks):
                self.owner[mask.ravel()] = g
        if groups.words:  # which row has which word
            self.texts = [c for c in X.columns if c not in groups.columns]
            joined = X[self.texts].astype(object).fillna("").agg(" ".join, axis=1)
            self.has = np.array([[_word_pattern(w).search(t) is not None for w in groups.words]
                                 for t in joined])

    def __call__(self, rows: np.ndarray):
        rows = np.asarray(rows, dtype=int)
        if self.groups.masks is not None:
            flat = self.X.reshape(len(self.X), -1)
            source = rows[:, self.owner]  # per row and value: the row it is taken from
            return flat[source, np.arange(flat.shape[1])].reshape(self.X.shape)
        frame = self.X.copy()
        for g, column in enumerate(self.groups.columns):
            frame[column] = self.X[column].iloc[rows[:, g]].to_numpy()
        if self.groups.words:
            frame[self.texts] = self._words_swapped(rows[:, len(self.groups.columns):])
        return frame

    def _words_swapped(self, rows: np.ndarray) -> pd.DataFrame:
        """The text columns where each word's presence is drawn from another row: deleted
        where that row lacks it, added (to the first text column) where it has it."""
        texts = self.X[self.texts].astype(object).fillna("").to_numpy(copy=True)
        for w, word in enumerate(self.groups.words):
            wanted = self.has[rows[:, w], w]
            pattern = _word_pattern(word)
            for i in np.flatnonzero(wanted != self.has[:, w]):
                if wanted[i]:
                    texts[i, 0] = f"{texts[i, 0]} {word}"
                else:
                    texts[i] = [pattern.sub("", str(t)) for t in texts[i]]
        return pd.DataFrame(texts, columns=self.texts, index=self.X.index).astype("string")


def _word_pattern(word: str) -> re.Pattern:
    return re.compile(rf"(?i)\b{re.escape(word)}\b")


def importances_of(results: Sequence[FamilyResult], dataset: Dataset, metric: Metric,
                   seed: int, cutoff: StageCutoff = NO_CUTOFF,
                   repeats: int = PERMUTATION_REPEATS) -> pd.DataFrame:
    """Per family with a refitted model: the permutation importance of every feature on
    the test split (the drop in score, positive where the feature matters: by log loss
    for classifiers with probabilities, else by `metric`; see `_scorer`), and its native
    importances where it has them."""
    from sklearn.inspection import permutation_importance
    groups = kind_of(dataset.info).feature_groups(dataset.info, dataset.train.X)
    rows = _sample_rows(dataset, seed)
    X, y = take(dataset.test.X, rows), dataset.test.y[rows]
    splice = Splice(X, groups)
    positions = groups.grid or [(math.nan, math.nan)] * len(groups)
    identity = np.tile(np.arange(len(y)), (len(groups), 1)).T  # every row its own
    found = []
    for result in results:
        if result.test is None or result.test.estimator is None or not len(groups):
            continue
        if cutoff.reached("the feature importances"):
            break
        model, family = result.test.estimator, result.outcome.family
        scorer, measured_by = _scorer(metric, dataset.info, model)
        permuted = permutation_importance(
            model, identity, y, n_repeats=repeats, random_state=seed,
            scoring=lambda model, rows, truth, scorer=scorer: scorer(model, splice(rows),
                                                                     truth))
        found += [[family.name, family.kind, "permutation", measured_by, name, *where,
                   mean, std]
                  for name, where, mean, std in zip(groups.names, positions,
                                                    permuted.importances_mean,
                                                    permuted.importances_std, strict=True)]
        method, values = native(model, X, y, groups)
        if method:
            found += [[family.name, family.kind, method, "", name, *where, value, math.nan]
                      for name, where, value in zip(groups.names, positions, values,
                                                    strict=True)]
    return pd.DataFrame(found, columns=COLUMNS)


def _sample_rows(dataset: Dataset, seed: int) -> np.ndarray:
    """All test rows, or a stratified `MAX_ROWS` of them."""
    from automl.fitting.sizing import stratified_rows
    n = dataset.info.n_test
    if n <= MAX_ROWS:
        return np.arange(n)
    return np.sort(stratified_rows(dataset.test.y, dataset.info, MAX_ROWS, seed))


def _scorer(metric: Metric, info: DatasetInfo, model):
    """``scorer(model, X, y)``, higher is better (what `permutation_importance` expects),
    and its name: the negative log loss for classifiers with probabilities, the metric
    otherwise. Log loss moves with every row's probabilities, where accuracy moves only
    when a prediction flips: on digits, shuffling one pixel flips almost none of a
    forest's or a kNN's predictions, and their pictures were noise."""
    if info.task_type == "classification" and hasattr(model, "predict_proba"):
        from sklearn.metrics import log_loss

        def negative_log_loss(model, X, y) -> float:
            proba = np.clip(predict_proba(model, X, info.n_classes), 1e-15, 1)
            return -log_loss(y, proba, labels=range(info.n_classes))
        return negative_log_loss, "log_loss"
    sign = 1.0 if metric.direction == "maximize" else -1.0

    def score(model, X, y) -> float:
        proba = (predict_proba(model, X, info.n_classes)
                 if metric.needs_proba and info.task_type == "classification" else None)
        return sign * float(metric.score(y, np.asarray(in_batches(model.predict, X)), proba))
    return score, metric.name


def native(model, X, y, groups: Groups) -> tuple[str, np.ndarray]:
    """The model's own reading of its inputs, summed over `groups`: ("", empty) when it
    has none that maps to them."""
    if groups.masks is not None:  # images and sequences: one value per input value
        method, values = _array_native(model, X, y)
        if not method or values.size != groups.masks[0].size:
            return "", np.array([])
        values = values.reshape(groups.masks[0].shape)
        return method, np.array([values[mask].sum() for mask in groups.masks])
    encoder, inner = getattr(model, "encoder_", None), _innermost(getattr(model, "model",
                                                                           None))
    if encoder is None or groups.words:  # tables the model encodes itself, or texts
        return "", np.array([])
    method, values = _weights(inner)
    names = list(encoder.get_feature_names_out())
    if not method or len(values) != len(names):
        return "", np.array([])
    owners = [source_column(name, groups.columns) for name in names]
    return method, np.array([sum(v for v, o in zip(values, owners, strict=True) if o == c)
                             for c in groups.columns])


def _array_native(model, X, y) -> tuple[str, np.ndarray]:
    saliency = getattr(model, "input_saliency", None)
    if callable(saliency):
        return "gradient_x_input", np.asarray(saliency(X, y))
    return _weights(_innermost(model))


def _weights(model) -> tuple[str, np.ndarray]:
    """|coefficients| (averaged over classes) of a linear model, or impurity importances
    of a tree ensemble; ("", empty) for other models."""
    if model is None:
        return "", np.array([])
    coef = getattr(model, "coef_", None)
    if coef is not None:
        coef = np.abs(np.atleast_2d(np.asarray(coef, dtype=float)))
        return "coefficients", coef.mean(axis=0)
    impurity = getattr(model, "feature_importances_", None)
    if impurity is not None:
        return "impurity", np.asarray(impurity, dtype=float)
    return "", np.array([])


def _innermost(model):
    """The fitted model inside pipelines, calibration and target transforms."""
    for _ in range(5):
        if hasattr(model, "steps"):
            model = model.steps[-1][1]
        elif hasattr(model, "calibrated_classifiers_"):
            model = model.calibrated_classifiers_[0].estimator
        elif hasattr(model, "regressor_"):
            model = model.regressor_
        else:
            break
    return model


def source_column(encoded: str, columns: Sequence[str]) -> str | None:
    """The table column an encoded feature (``part__name``, as `automl.data.tables.TableEncoder`
    names them) comes from: the longest column its name starts with or names."""
    part, _, rest = encoded.partition("__")
    rest = re.sub(r"^missingindicator_", "", rest)
    found = [c for c in columns if rest == c or rest.startswith(f"{c}_")
             or part == "text_" + re.sub(r"\W+", "_", c)]
    return max(found, key=len) if found else None


def agreement(importances: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rank correlation between every two families' permutation importances
    (a square frame, families as index and columns)."""
    permuted = importances[importances.method == "permutation"]
    table = permuted.pivot_table(index="feature", columns="family", values="importance",
                                 sort=False)
    return table.corr(method="spearman")


def shared_top(importances: pd.DataFrame, a: str, b: str, top: int = 10) -> int:
    """How many of the `top` features by permutation importance `a` and `b` share."""
    permuted = importances[importances.method == "permutation"]
    best = [set(permuted[permuted.family == f].nlargest(top, "importance")["feature"])
            for f in (a, b)]
    return len(best[0] & best[1])
