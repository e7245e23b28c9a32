"""Does depth help? Each deep family's best configuration refitted at every depth.

The search's own trials answer it poorly: they are at whatever depths the sampler drew
(the digits run tried its MLP at one depth). Here the best trial's parameters are kept
(widths, training, everything but the depth) and the family is refitted at every depth of
its searched range (the parameter it declares as `automl.api.models.ModelFamily.depth_param`),
with the report's seeds, and scored on the test split; its parameter count and fit
seconds are kept beside. `verdict` says which depth is best and whether its margin over
depth 1 lies outside the 95% interval of the paired differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from automl.analyses.measures import interval
from automl.api.metrics import Metric
from automl.api.results import FamilyResult
from automl.data.datasets import Dataset
from automl.fitting.budget import NO_CUTOFF, StageCutoff
from automl.fitting.evaluate import fit_and_test
from automl.fitting.stoppable import TrialStopped, run_stoppable

COLUMNS = ["family", "depth", "seed", "score", "n_params", "fit_s", "error"]


def depth_range(result: FamilyResult) -> range | None:
    """The depths the family's search could draw, as its trials recorded them (None for
    a family that declares no `automl.api.models.ModelFamily.depth_param`)."""
    param = result.outcome.family.depth_param
    for trial in result.outcome.trials if param else ():
        distribution = trial.distributions.get(param)
        if distribution is not None:
            return range(int(distribution.low), int(distribution.high) + 1)
    return None


def depth_sweep(results: Sequence[FamilyResult], dataset: Dataset, metric: Metric,
                seeds: int, device: str, cutoff: StageCutoff = NO_CUTOFF) -> pd.DataFrame:
    """Per family that declares a depth parameter, per depth of its searched range and
    seed: the test score, parameters and fit seconds of its best configuration at that
    depth."""
    rows = []
    for result in results:
        family, depths = result.outcome.family, depth_range(result)
        if depths is None or result.test is None:
            continue
        best = result.outcome.best_trial
        for depth in depths:
            params = family.search_space(_fixed({**best.params, family.depth_param: depth}),
                                         dataset.info)
            for seed in range(max(seeds, 1)):
                if cutoff.reached("the depth sweep"):
                    return pd.DataFrame(rows, columns=COLUMNS)
                rows.append({"family": family.name, "depth": depth, "seed": seed,
                             **_swept(family, params, dataset, metric, seed, device, cutoff,
                                      result.fit_rows)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _fixed(params: dict):
    import optuna
    return optuna.trial.FixedTrial(params)


def _swept(family, params, dataset, metric, seed, device, cutoff, rows) -> dict:
    try:
        return {**run_stoppable(family, swept_fit, (family, params, dataset, metric, seed,
                                                    device, rows),
                                cutoff.seconds_left(), f"a depth-sweep fit of {family.name}"),
                "error": ""}
    except Exception as failure:  # keep the reason; the other depths go on
        return {"score": math.nan, "n_params": math.nan, "fit_s": math.nan,
                "error": f"{type(failure).__name__}: {failure}"[:300]}


def swept_fit(family, params, dataset: Dataset, metric: Metric, seed: int, device: str,
              rows: np.ndarray | None, stop_after: float | None = None) -> dict:
    """One fit of the sweep: its test score, parameter count and fit seconds."""
    test = fit_and_test(family, params, dataset, {metric.name: metric}, seed, device,
                        rows=rows, timed=False, stop_after=stop_after)
    if test.stopped:
        raise TrialStopped(f"a depth-sweep fit of {family.name} {test.stopped}")
    return {"score": test.scores[metric.name], "n_params": test.n_params,
            "fit_s": test.fit_seconds}


def summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per family and depth: the mean score with its 95% interval, seeds, parameters and
    mean fit seconds."""
    rows = []
    for (family, depth), points in sweep.dropna(subset=["score"]).groupby(
            ["family", "depth"], sort=False):
        mean, low, high = interval(points["score"].to_numpy())
        rows.append({"family": family, "depth": int(depth), "seeds": len(points),
                     "mean": mean, "low": low, "high": high,
                     "n_params": points["n_params"].mean(), "fit_s": points["fit_s"].mean()})
    return pd.DataFrame(rows, columns=["family", "depth", "seeds", "mean", "low", "high",
                                       "n_params", "fit_s"])


def verdict(sweep: pd.DataFrame, family: str, direction: str) -> str:
    """Which depth is best for `family`, and whether its margin over depth 1 is real: the
    95% interval of the per-seed differences excludes 0."""
    points = sweep[(sweep.family == family)].dropna(subset=["score"])
    means = points.groupby("depth")["score"].mean()
    if len(means) < 2:
        return ""
    best = int(means.idxmax() if direction == "maximize" else means.idxmin())
    shallow = int(means.index.min())
    text = (f"{family}: depth {best} scores best ({means[best]:.4f} on average, "
            f"against {means[shallow]:.4f} at depth {shallow})")
    if best == shallow:
        return text.split(" (")[0] + f" ({means[best]:.4f}): more depth did not help."
    pairs = points.pivot_table(index="seed", columns="depth", values="score")
    differences = (pairs[best] - pairs[shallow]).dropna().to_numpy()
    if len(differences) < 2:
        return text + "; one seed only, so no interval."
    mean, low, high = interval(differences)
    outside = low > 0 or high < 0
    return (text + f"; the margin {mean:+.4f} (95% interval {low:+.4f} to {high:+.4f} over "
            f"{len(differences)} seeds) is "
            + ("outside the band: depth helps here." if outside
               else "within the band: not a real difference at these seeds."))
