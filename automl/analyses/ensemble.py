"""Classical and deep together: greedy ensemble selection over the families' models.

As Caruana et al. (2004) and AutoGluon's ``WeightedEnsemble`` do: starting from nothing,
`ENSEMBLE_ROUNDS` times add (with replacement) the family whose outputs improve the
blend's score most; a family's weight is the share of rounds that picked it. The blend
averages class probabilities (classification) or predictions (regression).

The weights are chosen on out-of-fold outputs of the training split (`out_of_fold`: the
outputs the search's own folds gave each family's best trial, on the task's folds that
score every family; fitted again on those folds only where the best trial ran in an
earlier run or another worker), never on the test split; the refitted models are then
blended with those weights and scored once on test. The blend's validation score, which
ranks it beside the families, is not the score of the weights on the rows that chose
them (greedy selection fits those rows: on 500 rows of a loan table it claimed 0.774
balanced accuracy against the best family's 0.689, and scored 0.709 on test) but
`validated`: the selection repeated on four fifths of the rows, scored on the fifth it
did not see, as a gain over the best single family on the same rows (`ranked_score`).
Whether the blend's gain over the best single family is real is asked as for the
compared pair: the members and that family refitted with the report's seeds, the blend
of each seed against the family with the same seed, a paired t-test (`seed_blends`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from automl.analyses.leaderboard import best_validated, optimism
from automl.api.decisions import decide
from automl.api.metrics import Metric, score_all
from automl.api.results import FamilyResult
from automl.data.datasets import Dataset, DatasetInfo, Split
from automl.data.folds import task_folds
from automl.fitting.budget import NO_CUTOFF, StageCutoff
from automl.fitting.evaluate import OutOfFold, fit_within, outputs_of
from automl.fitting.sizing import stratified_rows, subset
from automl.fitting.stoppable import TrialStopped, run_stoppable

ENSEMBLE_ROUNDS = 25
NAME = "ensemble"
WEIGHT_COLUMNS = ["family", "weight", "oof_score"]


def fitted_outputs(family, params, info: DatasetInfo, train: Split, X, seed: int,
                   device: str, stop_after: float | None = None) -> np.ndarray:
    """`params` fitted on `train` and its outputs on X (`outputs_of`); a fit stopped at
    `stop_after` seconds has none (`TrialStopped`)."""
    estimator = family.make_estimator(params, info, seed, device)
    if fit_within(estimator, train.X, train.y, stop_after):
        raise TrialStopped(f"a fit of {family.name} for the ensemble was stopped at the "
                           "analyses' time limit")
    return outputs_of(estimator, X, info)


def _fit(family, params, dataset: Dataset, train: Split, X, seed: int, device: str,
         cutoff: StageCutoff, what: str) -> np.ndarray | None:
    """`fitted_outputs`, stoppable at the cutoff's stage end; None when it failed or was
    stopped (the family then takes no part)."""
    try:
        return run_stoppable(family, fitted_outputs, (family, params, dataset.info, train,
                                                       X, seed, device),
                             cutoff.seconds_left(), what)
    except Exception:  # a family that cannot be fitted here is left out of the blend
        return None


def out_of_fold(results: Sequence[FamilyResult], dataset: Dataset, seed: int, device: str,
                folds: int, cutoff: StageCutoff = NO_CUTOFF) -> dict[str, np.ndarray]:
    """Per family: each training row's outputs from its best configuration fitted
    without the row's fold (NaN for rows no fold of its search scored: the fitting rows
    of a holdout share, the rows a subsample left out). They are the search's own
    (`automl.api.results.SearchOutcome.out_of_fold`); a best trial that ran elsewhere (an
    earlier run, another worker) is fitted again on the task's folds, unless its family
    was searched or refitted on a subsample (a large table: then it is left out)."""
    splits = None
    found = {}
    for result in results:
        family, rows = result.outcome.family, result.rows
        if result.test is None:
            continue
        if result.outcome.out_of_fold is not None:
            found[family.name] = result.outcome.out_of_fold
            continue
        if result.fit_rows is not None or (rows is not None and rows.subsampled):
            continue
        splits = splits or task_folds(dataset.info, dataset.train, folds, seed)
        params = result.outcome.best_params(dataset.info)
        outputs = OutOfFold(len(dataset.train.y))
        for fit_rows, held_rows in splits:
            if cutoff.reached("the ensemble's out-of-fold fits"):
                return found
            train, held = subset(dataset.train, fit_rows), subset(dataset.train, held_rows)
            part = _fit(family, params, dataset, train, held.X, seed, device, cutoff,
                        f"an out-of-fold fit of {family.name}")
            if part is None:
                break
            outputs.add(np.sort(held_rows), part)  # subset keeps the rows in order
        else:
            found[family.name] = outputs.outputs
    return found


def blend_scores(outputs: np.ndarray, y: np.ndarray, info: DatasetInfo,
                 metrics: Mapping[str, Metric]) -> dict[str, float]:
    """Every metric of blended outputs (the class `automl.api.decisions.decide` picks as the
    prediction)."""
    if info.task_type == "classification":
        return score_all(metrics, y, decide(outputs, info), outputs)
    return score_all(metrics, y, outputs, None)


def blend_score(outputs: np.ndarray, y: np.ndarray, info: DatasetInfo,
                metric: Metric) -> float:
    return blend_scores(outputs, y, info, {metric.name: metric})[metric.name]


def greedy_selection(outputs: Mapping[str, np.ndarray], y: np.ndarray, info: DatasetInfo,
                     metric: Metric, rounds: int = ENSEMBLE_ROUNDS) -> dict[str, float]:
    """Caruana's ensemble selection with replacement: family -> weight (shares of
    `rounds`, summing to 1; families never picked are left out). Ties on `metric` (common
    with accuracy) go to the lower log loss, then to the family listed first."""
    from sklearn.metrics import log_loss
    sign = 1.0 if metric.direction == "maximize" else -1.0
    classify = info.task_type == "classification"

    def score_of(mixed: np.ndarray) -> float:
        score = sign * blend_score(mixed, y, info, metric)
        return score if math.isfinite(score) else -math.inf

    def tie_of(mixed: np.ndarray) -> float:  # only asked where the scores tie
        return (-log_loss(y, np.clip(mixed, 1e-12, 1), labels=range(info.n_classes))
                if classify else 0.0)

    picked: list[str] = []
    total = None
    for _ in range(rounds if outputs else 0):
        best_name, best_score, best_mixed, best_tie = None, -math.inf, None, None
        for name, values in outputs.items():
            mixed = (values if total is None
                     else (total * len(picked) + values) / (len(picked) + 1))
            score = score_of(mixed)
            if best_name is not None and score == best_score:
                best_tie = tie_of(best_mixed) if best_tie is None else best_tie
                tie = tie_of(mixed)
                if tie > best_tie:
                    best_name, best_mixed, best_tie = name, mixed, tie
            elif best_name is None or score > best_score:
                best_name, best_score, best_mixed, best_tie = name, score, mixed, None
        picked.append(best_name)
        total = (outputs[best_name] if total is None
                 else total + (outputs[best_name] - total) / len(picked))
    return {name: picked.count(name) / len(picked) for name in dict.fromkeys(picked)}


VALIDATION_FOLDS = 5
VALIDATION_ROWS = 50_000
"""The most rows the blend is validated on (a stratified sample beyond them): five more
selections on a holdout share of a million rows would take half a minute."""


def validated(outputs: Mapping[str, np.ndarray], y: np.ndarray, info: DatasetInfo,
              metric: Metric, seed: int) -> tuple[float, float]:
    """The mean and spread of greedy selection's score on rows it did not choose on:
    `VALIDATION_FOLDS` folds of the rows (at most `VALIDATION_ROWS`; stratified where
    every class has a row for each fold; drawn with `seed`), the weights chosen on the
    other folds. It is not cut short by the time limit: without it the blend could not
    be ranked. NaN where there are too few rows."""
    from sklearn.model_selection import KFold, StratifiedKFold
    if len(y) < 2 * VALIDATION_FOLDS:
        return math.nan, math.nan
    classify = info.task_type == "classification"
    if len(y) > VALIDATION_ROWS:
        kept = stratified_rows(y, info, VALIDATION_ROWS, seed)
        outputs, y = {name: values[kept] for name, values in outputs.items()}, y[kept]
    counts = np.bincount(y.astype(int)) if classify else None
    stratify = counts is not None and counts[counts > 0].min() >= VALIDATION_FOLDS
    splitter = (StratifiedKFold if stratify else KFold)(VALIDATION_FOLDS, shuffle=True,
                                                        random_state=seed)
    scores = []
    for chosen_on, scored_on in splitter.split(np.zeros(len(y)), y):
        weights = greedy_selection({name: values[chosen_on] for name, values in outputs.items()},
                                   y[chosen_on], info, metric)
        scores.append(blend_score(blend({name: outputs[name][scored_on] for name in weights},
                                        weights), y[scored_on], info, metric))
    return float(np.mean(scores)), float(np.std(scores))


def blend(outputs: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    return sum(weights[name] * outputs[name] for name in weights)


class Blend:
    """The ensemble as one model: fitted member models blended with their weights (what
    `predict` uses when the ensemble ranks first). Classifiers: the weighted class
    probabilities and their most probable class; regression: the weighted predictions."""

    def __init__(self, models: Mapping[str, object], weights: Mapping[str, float],
                 info: DatasetInfo):
        self.models, self.weights, self.info = dict(models), dict(weights), info

    def outputs(self, X) -> np.ndarray:
        return blend({name: outputs_of(model, X, self.info)
                      for name, model in self.models.items()}, self.weights)

    def predict_proba(self, X) -> np.ndarray:
        return self.outputs(X)

    def predict(self, X) -> np.ndarray:
        outputs = self.outputs(X)
        return decide(outputs, self.info) if self.info.task_type == "classification" else outputs


def seed_outputs(results: Sequence[FamilyResult], families: set[str], dataset: Dataset,
                 seeds: int, device: str,
                 cutoff: StageCutoff = NO_CUTOFF) -> dict[tuple[str, int], np.ndarray]:
    """(family, seed) -> test outputs of the family's best configuration refitted with
    that seed on the rows its refit used (seeds 0..seeds-1, fewer once `cutoff` is
    reached)."""
    found = {}
    for result in results:
        family = result.outcome.family
        params = result.outcome.best_params(dataset.info)
        if family.name not in families or params is None or result.test is None:
            continue
        train = (dataset.train if result.fit_rows is None
                 else subset(dataset.train, result.fit_rows))
        for seed in range(seeds):
            if cutoff.reached("the repeated seeds"):
                break
            outputs = _fit(family, params, dataset, train, dataset.test.X, seed, device,
                           cutoff, f"a seed refit of {family.name}")
            if outputs is None:
                break
            found[family.name, seed] = outputs
    return found


def seed_blends(outputs: Mapping[tuple[str, int], np.ndarray], weights: Mapping[str, float],
                single: str, dataset: Dataset, metric: Metric) -> pd.DataFrame:
    """Per seed where every member and `single` were refitted: the blend's test score
    (``single``'s own are the seed scores of it)."""
    rows = []
    seeds = sorted({seed for _, seed in outputs})
    for seed in seeds:
        if not all((name, seed) in outputs for name in [*weights, single]):
            continue
        blended = blend({name: outputs[name, seed] for name in weights}, weights)
        rows.append({"seed": seed, "family": NAME,
                     "score": blend_score(blended, dataset.test.y, dataset.info, metric)})
    return pd.DataFrame(rows, columns=["seed", "family", "score"])


def weights_table(weights: Mapping[str, float], oof: Mapping[str, np.ndarray],
                  y: np.ndarray, info: DatasetInfo, metric: Metric) -> pd.DataFrame:
    """One row per candidate family: its weight (0 when never picked) and its
    out-of-fold score on targets `y`, then the blend's own out-of-fold score."""
    rows = [{"family": name, "weight": weights.get(name, 0.0),
             "oof_score": blend_score(values, y, info, metric)} for name, values in oof.items()]
    if weights:
        rows.append({"family": NAME, "weight": 1.0,
                     "oof_score": blend_score(blend(oof, weights), y, info, metric)})
    return pd.DataFrame(rows, columns=WEIGHT_COLUMNS)


def ensemble_row(weights: Mapping[str, float], results: Sequence[FamilyResult],
                 dataset: Dataset, metric: Metric, metrics: Mapping[str, Metric],
                 score: tuple[float, float]) -> tuple[dict, np.ndarray]:
    """The leaderboard's ensemble row, and its test predictions: the refitted models
    blended on test, scored once; its costs are its members' together. `score` is its
    validation score's mean and spread (`validated`)."""
    cv_mean, cv_std = score
    members = {r.outcome.family.name: r for r in results if r.outcome.family.name in weights}
    test = {name: outputs_of(result.test.estimator, dataset.test.X, dataset.info)
            for name, result in members.items()}
    blended = blend(test, weights)
    scores = blend_scores(blended, dataset.test.y, dataset.info, metrics)
    predictions = (decide(blended, dataset.info) if dataset.info.task_type == "classification"
                   else blended)

    def total(attribute: str) -> float:
        values = [getattr(r.test, attribute) for r in members.values()]
        known = [v for v in values if not math.isnan(v)]
        return float(sum(known)) if known else math.nan
    described = ", ".join(f"{name} {weight:.2f}" for name, weight in
                          sorted(weights.items(), key=lambda item: -item[1]))
    return {"family": NAME, "kind": NAME, "cv_mean": cv_mean, "cv_std": cv_std,
            **{f"test_{name}": value for name, value in scores.items()},
            "fit_s": total("fit_seconds"), "compile_s": total("compile_seconds"),
            "predict_ms_per_1k": total("predict_ms_per_1k"), "n_params": total("n_params"),
            "optimism": optimism(cv_mean, scores[metric.name], metric),
            "note": f"weights {described}, chosen on the search folds' out-of-fold "
                    "predictions of the training split; validated by choosing them on 4/5 "
                    "of those rows and scoring the other 1/5, five times, as a gain over "
                    "the best family on the same rows; costs are its members' summed"}, \
        predictions



@dataclass(frozen=True)
class Combined:
    """What the ensemble adds to a run: the weights table, the leaderboard row and test
    predictions (None without a blend), the best single family it is tested against, and
    the families whose seed refits that test needs."""

    weights: pd.DataFrame
    row: dict | None = None
    predictions: np.ndarray | None = None
    single: str = ""
    member_weights: dict[str, float] = field(default_factory=dict)

    @property
    def tested(self) -> bool:
        """Whether the blend is tested over seeds: it has members besides the best single
        family (a blend of that family alone differs from it by zero)."""
        return bool(self.row) and set(self.member_weights) != {self.single}

    @property
    def seed_families(self) -> set[str]:
        """The families whose seed refits the test needs."""
        return {*self.member_weights, self.single} if self.tested else set()

    def seed_blends(self, outputs: Mapping[tuple[str, int], np.ndarray], dataset: Dataset,
                    metric: Metric) -> pd.DataFrame:
        """`seed_blends` of the members (empty unless `tested`)."""
        if not self.tested:
            return pd.DataFrame(columns=["seed", "family", "score"])
        return seed_blends(outputs, self.member_weights, self.single, dataset, metric)


def combine(results: Sequence[FamilyResult], dataset: Dataset, metric: Metric,
            metrics: Mapping[str, Metric], seed: int, folds: int, device: str, progress,
            cutoff: StageCutoff = NO_CUTOFF) -> Combined:
    """The ensemble of `results`' refitted models, scored on test by every one of
    `metrics`, where at least two families have out-of-fold outputs (on the search's
    `folds`, drawn with `seed`)."""
    empty = Combined(pd.DataFrame(columns=WEIGHT_COLUMNS))
    scored = [r for r in results if r.test is not None and r.test.estimator is not None]
    if len(scored) < 2:
        return empty
    progress.message(f"ensemble: greedy selection on the out-of-fold predictions of "
                     f"{len(scored)} families")
    oof = out_of_fold(scored, dataset, seed, device, folds, cutoff)
    common = np.all([np.isfinite(values).reshape(len(values), -1).all(axis=1)
                     for values in oof.values()], axis=0) if oof else None
    if len(oof) < 2 or not common.any():
        return empty
    if not common.all():
        progress.message(f"ensemble: weights chosen on the {int(common.sum()):,} training "
                         "rows that every family's validation scored")
    oof = {name: values[common] for name, values in oof.items()}
    weights = greedy_selection(oof, dataset.train.y[common], dataset.info, metric)
    table = weights_table(weights, oof, dataset.train.y[common], dataset.info, metric)
    # the gain is measured against the best family among those blended (a family whose
    # out-of-fold outputs were cut short by time is not among them)
    baseline = best_validated([r for r in scored if r.outcome.family.name in oof], metric)
    row, predictions = ensemble_row(
        weights, scored, dataset, metric, metrics,
        ranked_score(oof, dataset.train.y[common], dataset.info, metric, seed,
                     baseline.outcome.family.name, baseline.outcome.best_trial.value))
    single = best_validated(scored, metric).outcome.family.name
    return Combined(table, row, predictions, single, dict(weights))


def ranked_score(oof: Mapping[str, np.ndarray], y: np.ndarray, info: DatasetInfo,
                 metric: Metric, seed: int, single: str, single_score: float
                 ) -> tuple[float, float]:
    """The blend's score beside the families' (its ``cv_mean``) and its spread: family
    `single`'s validation score (`single_score`) plus the blend's `validated` gain over
    that family on the rows they share. A family is scored on its own search rows, the
    blend on the rows every member's validation scored (500 of 7,885 where one family was
    searched on a subsample), which may be easier or harder than the rest: compared on
    the same rows, the gain is the blend's own."""
    mean, spread = validated(oof, y, info, metric, seed)
    return single_score + (mean - blend_score(oof[single], y, info, metric)), spread
