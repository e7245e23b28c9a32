"""Analyses run after the search, on the refitted best configurations.

"Is the difference real?": the best classical and the best deep family (and any pair the
task names) are refitted with several seeds on the same training split and scored on the
test split; the report shows each family's mean with a 95% interval and a paired t-test
between them (the same seeds pair the runs).

"How much data does each family need?": every family's best configuration is retrained on
growing stratified shares of the training split, over several seeds, and scored on the
test split (learning curves).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from automl.analyses.leaderboard import by_validation
from automl.api.metrics import Metric
from automl.api.results import FamilyResult
from automl.data.datasets import Dataset
from automl.data.input_kinds import kind_of
from automl.fitting.budget import NO_CUTOFF, StageCutoff
from automl.fitting.evaluate import fit_and_test
from automl.fitting.stoppable import TrialStopped, run_stoppable

SEED_COLUMNS = ["family", "seed", "score"]
COMPARISON_COLUMNS = ["family_a", "family_b", "seeds", "mean_a", "low_a", "high_a", "mean_b",
                      "low_b", "high_b", "difference", "p_value"]
CURVE_COLUMNS = ["family", "kind", "share", "seed", "n_train", "score", "error"]
IMPORTANCE_COLUMNS = ["family", "param", "importance"]
FEATURE_COLUMNS = ["family", "kind", "representation", "score", "error"]


def families_to_compare(results: Sequence[FamilyResult], metric: Metric,
                        named: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Pairs of family names to compare, chosen by validation scores: best classical vs
    best deep (or the two best families when one kind is missing), then the pair the
    task names."""
    scored = by_validation(results, metric)
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


def seed_scores(outputs: Mapping[tuple[str, int], np.ndarray], families: set[str],
                dataset: Dataset, metric: Metric) -> pd.DataFrame:
    """Test scores of `families` from their seed refits' test outputs
    (`automl.analyses.ensemble.seed_outputs`: each family's best parameters refitted with seeds
    0..seeds-1)."""
    from automl.analyses.ensemble import blend_score
    rows = [{"family": family, "seed": seed,
             "score": blend_score(values, dataset.test.y, dataset.info, metric)}
            for (family, seed), values in outputs.items() if family in families]
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


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
        left = left[common].to_numpy(dtype=float)
        right = right[common].to_numpy(dtype=float)
        mean_a, low_a, high_a = interval(left)
        mean_b, low_b, high_b = interval(right)
        differences = left - right
        p_value = (float(stats.ttest_rel(left, right).pvalue)
                   if np.std(differences) > 0 else (1.0 if differences[0] == 0 else math.nan))
        rows.append({"family_a": a, "family_b": b, "seeds": len(common),
                     "mean_a": mean_a, "low_a": low_a, "high_a": high_a,
                     "mean_b": mean_b, "low_b": low_b, "high_b": high_b,
                     "difference": mean_a - mean_b, "p_value": p_value})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def disagreements(predictions: pd.DataFrame, a: str, b: str, limit: int = 24) -> pd.DataFrame:
    """Test rows where families `a` and `b` predict different classes (at most `limit`),
    those where one of them is right first."""
    differ = predictions[predictions[a] != predictions[b]].copy()
    differ["one_right"] = (differ[a] == differ["y_true"]) | (differ[b] == differ["y_true"])
    differ = differ.sort_values(["one_right", "row"], ascending=[False, True])
    return differ.drop(columns="one_right").head(limit)


def learning_curves(results: Sequence[FamilyResult], dataset: Dataset, metric: Metric,
                    shares: Sequence[float], seeds: int, device: str,
                    on_family=lambda name: None,
                    cutoff: StageCutoff = NO_CUTOFF) -> pd.DataFrame:
    """Test scores of each family's best configuration trained on `shares` of the
    training split (a stratified subsample per seed; of the rows its refit used, for a
    family refitted on a subsample, so that no point costs more than its refit). A fit
    that fails on a small share (too few samples for the model) is recorded with its error
    instead of a score.

    Points are fitted share by share from the smallest, every family's before the next
    share's, so that a time limit's `cutoff` cuts the dearest points, never a whole
    family; the first seed's point at the whole share is the refit itself (the same
    configuration on the same rows), so every curve reaches the full size."""
    scored = [result for result in results if result.test is not None] if shares else []
    for result in scored:  # no curve asked: no "learning curve of"
        on_family(result.outcome.family.name)
    params = {result.outcome.family.name: result.outcome.best_params(dataset.info)
              for result in scored}
    y = dataset.train.y
    stratify = y if dataset.info.task_type == "classification" else None
    rows = []
    for share in shares:
        for seed in range(seeds):
            for result in scored:
                family = result.outcome.family
                if share == 1 and seed == 0:
                    point = {"n_train": len(result.fit_rows) if result.fit_rows is not None
                             else len(y), "score": result.test.scores[metric.name],
                             "error": ""}
                elif cutoff.reached("the learning curves"):
                    continue
                else:
                    point = _curve_point(family, params[family.name], dataset, metric,
                                         share, seed, stratify, device, result.fit_rows,
                                         cutoff)
                rows.append({"family": family.name, "kind": family.kind, "share": share,
                             "seed": seed, **point})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def _curve_point(family, params, dataset, metric, share, seed, stratify, device,
                 pool: np.ndarray | None, cutoff: StageCutoff) -> dict:
    from sklearn.model_selection import train_test_split
    rows = np.arange(len(dataset.train.y)) if pool is None else pool
    if share < 1:
        within = stratify[rows] if stratify is not None else None
        try:
            rows, _ = train_test_split(rows, train_size=share, random_state=seed,
                                       stratify=within)
        except ValueError:  # too few samples per class to stratify this share
            rows, _ = train_test_split(rows, train_size=share, random_state=seed)
    found = _fit_and_score(family, params, dataset, metric, seed, device, cutoff, rows=rows)
    return {"n_train": len(rows), **found}


def crossover(curves: pd.DataFrame, classical: str, deep: str,
              direction: str) -> str | None:
    """Where the deep family's mean curve overtakes (or falls behind) the classical one."""
    means = curves.groupby(["family", "n_train"])["score"].mean().unstack(0)
    if classical not in means or deep not in means:
        return None
    lead = (means[deep] - means[classical]) * (1 if direction == "maximize" else -1)
    lead = lead.dropna()
    if lead.empty:
        return None
    signs = np.sign(lead.to_numpy())
    for i in range(1, len(signs)):
        if signs[i] != signs[i - 1] and signs[i] != 0:
            who = deep if signs[i] > 0 else classical
            return (f"{who} pulls ahead between {lead.index[i - 1]} and {lead.index[i]} "
                    "training samples")
    leader = deep if signs[-1] > 0 else classical
    return (f"{leader} leads at every training size measured "
            f"({lead.index[0]} to {lead.index[-1]} samples)")


def importances(results: Sequence[FamilyResult], seed: int) -> pd.DataFrame:
    """Optuna's fANOVA importance of each searched parameter, per family (families with
    fewer than two completed trials or a single parameter are left out)."""
    import optuna
    rows = []
    for result in results:
        complete = [t for t in result.outcome.trials
                    if t.state == optuna.trial.TrialState.COMPLETE]
        if len(complete) < 2:
            continue
        study = optuna.create_study(direction=result.outcome.direction)
        study.add_trials(complete)
        try:
            found = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
        except (ValueError, RuntimeError):  # e.g. parameters that never varied
            continue
        rows += [{"family": result.outcome.family.name, "param": param, "importance": value}
                 for param, value in found.items()]
    return pd.DataFrame(rows, columns=IMPORTANCE_COLUMNS)


def feature_comparison(results: Sequence[FamilyResult], dataset: Dataset, metric: Metric,
                       seed: int, device: str,
                       cutoff: StageCutoff = NO_CUTOFF) -> pd.DataFrame:
    """Test scores by representation: every family on the raw input (for deep families,
    the representation they learn), and each classical family's best configuration
    refitted on each engineered representation."""
    from dataclasses import replace

    from automl.data.datasets import Split
    from automl.data.features import representations
    rows = []
    for result in results:
        if result.test is not None:
            rows.append({"family": result.outcome.family.name,
                         "kind": result.outcome.family.kind,
                         "representation": "learned" if result.outcome.family.kind == "deep"
                         else "raw", "score": result.test.scores[metric.name], "error": ""})
    info = dataset.info
    kind = kind_of(info)
    if kind.is_table:
        rows += _encodings_compared(results, dataset, metric, seed, device, cutoff)
        return pd.DataFrame(rows, columns=FEATURE_COLUMNS)
    for name, (train_X, test_X) in representations(dataset.train.X, dataset.test.X,
                                                   kind.descriptors, seed).items():
        engineered = replace(dataset, info=replace(info, input_kind="tabular",
                                                   input_shape=(train_X.shape[1],)),
                             train=Split(train_X, dataset.train.y),
                             test=Split(test_X, dataset.test.y))
        for result in results:
            family = result.outcome.family
            if family.kind != "classical" or result.test is None:
                continue
            if cutoff.reached("the features comparison"):
                break
            # parameters replayed on the info they were searched with
            rows.append({"family": family.name, "kind": "classical", "representation": name,
                         **_fit_and_score(family, result.outcome.best_params(info),
                                          engineered, metric, seed, device, cutoff)})
    return pd.DataFrame(rows, columns=FEATURE_COLUMNS)


TABLE_ENCODINGS = {"one_hot": "onehot", "target_encoding": "target"}
"""Encodings of categorical columns compared on tables, by the name the report shows:
against them, the deep families learn an embedding per category."""


def _encodings_compared(results, dataset: Dataset, metric: Metric, seed: int,
                        device: str, cutoff: StageCutoff) -> list[dict]:
    """Each classical family that takes the engine's encoder, refitted with every
    category encoded one way (on tables with categorical columns)."""
    if not any(column.type == "categorical" for column in dataset.info.columns or ()):
        return []
    rows = []
    for name, encoding in TABLE_ENCODINGS.items():
        for result in results:
            family = result.outcome.family
            if family.kind != "classical" or family.takes_tables or result.test is None:
                continue
            if cutoff.reached("the features comparison"):
                break
            rows.append({"family": family.name, "kind": "classical", "representation": name,
                         **_fit_and_score(family, result.outcome.best_params(dataset.info),
                                          dataset, metric, seed, device, cutoff,
                                          encoding=encoding, rows=result.fit_rows)})
    return rows


def _fit_and_score(family, params, dataset: Dataset, metric: Metric, seed: int,
                   device: str, cutoff: StageCutoff, **how) -> dict:
    """The test score of `params` fitted as `how` says (see `fit_and_test`), or the
    error: a model may not fit a small share, or an encoding; the other fits go on. Under
    a time limit the fit runs where it can be stopped at the end of the `cutoff`'s stage
    (`run_stoppable`)."""
    seconds = cutoff.seconds_left()
    try:
        scores = run_stoppable(family, fitted_scores, (family, params, dataset,
                                                     {metric.name: metric}, seed, device,
                                                     how),
                               seconds, f"a fit of {family.name} for the analyses")
    except Exception as failure:  # keep the reason
        return {"score": math.nan, "error": f"{type(failure).__name__}: {failure}"[:300]}
    return {"score": scores[metric.name], "error": ""}


def fitted_scores(family, params, dataset: Dataset, metrics: dict[str, Metric], seed: int,
                device: str, how: dict, stop_after: float | None = None) -> dict[str, float]:
    """The test scores of `params` fitted as `how` says: what an analysis keeps of a fit
    (the model stays in the process that fitted it). A fit stopped after `stop_after`
    seconds has none (`TrialStopped`): a model trained for fewer epochs than its
    configuration asks would not measure what the analysis compares."""
    test = fit_and_test(family, params, dataset, metrics, seed, device, timed=False,
                        stop_after=stop_after, **how)
    if test.stopped:
        raise TrialStopped(f"a fit of {family.name} for the analyses {test.stopped}, and "
                           "has no score")
    return test.scores
