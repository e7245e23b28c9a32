"""Would more search change the answer? Each family's best validation score against the
search seconds it spent, fitted with the same saturating power law as the learning
curves (`automl.analyses.extrapolation`) and extrapolated to 2x, 5x and 10x those
seconds.

The points are the running best of the family's completed trials against the seconds
its trials had taken by then (every trial's, pruned and failed ones included), in trial
order, up to the search's end. These are validation scores, the ones that choose: a
family predicted to pass the pick with more search is a family whose search was cut too
short to judge. The fit is checked as the learning curves' are: fitted on the trials
within the first half of the seconds, its prediction at the full seconds is compared
with the best measured there, and it is marked unreliable beyond `check_bound`: twice
the standard error of that best trial's fold scores, at least 1% of the score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from optuna.trial import TrialState

from automl.analyses.api import Analysis, AnalysisContext
from automl.analyses.extrapolation import MULTIPLES, fit_curve, power_law

MIN_POINTS = 4
"""The fewest completed trials a search curve is fitted on (three parameters, and one
more, since a running best repeats itself)."""
COLUMNS = ["family", "kind", "trials", "seconds", "best_now", "a", "b", "c",
           "check_predicted", "check_error", "check_bound", "reliable",
           *[f"predicted_{m}x" for m in MULTIPLES]]


def search_curve(trials, sign: float) -> pd.DataFrame:
    """(seconds, best): after each completed trial, the seconds all trials had taken
    and the best validation score so far; and, where trials that gave no score came
    after the last one that did, the best score still at the search's end."""
    points, spent, best = [], 0.0, None
    for trial in sorted(trials, key=lambda t: t.number):
        spent += trial.duration.total_seconds() if trial.duration else 0.0
        if trial.state != TrialState.COMPLETE or trial.value is None \
                or not np.isfinite(trial.value):
            continue
        best = trial.value if best is None else (max(best, trial.value) if sign > 0
                                                 else min(best, trial.value))
        points.append({"seconds": max(spent, 1e-3), "best": best, "complete": True,
                       "fold_scores": trial.user_attrs.get("cv_scores", [trial.value])})
    if points and spent > points[-1]["seconds"]:
        points.append({**points[-1], "seconds": spent, "complete": False})
    return pd.DataFrame(points, columns=["seconds", "best", "complete", "fold_scores"])


def check_bound(best: float, fold_scores) -> float:
    """How far the check may miss the best score: twice the standard error of the best
    trial's fold scores, at least 1% of the score."""
    folds = np.asarray(fold_scores, np.float64)
    spread = 2 * float(np.std(folds)) / np.sqrt(len(folds)) if len(folds) > 1 else 0.0
    return max(spread, 0.01 * abs(best), 1e-9)


def extrapolate_search(curve: pd.DataFrame, sign: float) -> dict | None:
    """The fit, its check and its predictions at 2x, 5x and 10x the seconds; None with
    fewer than `MIN_POINTS` completed trials or no fit."""
    if curve["complete"].sum() < MIN_POINTS:
        return None
    seconds, best = curve["seconds"].to_numpy(), curve["best"].to_numpy()
    try:
        a, b, c = fit_curve(seconds, best, sign)
    except (RuntimeError, ValueError):
        return None
    best_folds = curve["fold_scores"].iloc[int(np.argmax(sign * best))]
    row = {"trials": int(curve["complete"].sum()), "seconds": float(seconds[-1]),
           "best_now": float(best[-1]), "a": a, "b": b, "c": c,
           "check_predicted": np.nan, "check_error": np.nan,
           "check_bound": check_bound(best[-1], best_folds), "reliable": False}
    early = seconds <= seconds[-1] / 2
    if (early & curve["complete"].to_numpy()).sum() >= MIN_POINTS:
        try:
            checked = fit_curve(seconds[early], best[early], sign)
            predicted = float(power_law(seconds[-1], *checked, sign))
            error = abs(predicted - best[-1])
            row.update(check_predicted=predicted, check_error=error,
                       reliable=bool(error <= row["check_bound"]))
        except (RuntimeError, ValueError):
            pass
    for multiple in MULTIPLES:
        row[f"predicted_{multiple}x"] = float(power_law(seconds[-1] * multiple, a, b, c,
                                                        sign))
    return row


def search_budget(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    """The `search_extrapolation` table: a row per family with enough trials."""
    sign = 1.0 if context.metric.direction == "maximize" else -1.0
    rows = []
    for result in context.results:
        found = extrapolate_search(search_curve(result.outcome.trials, sign), sign)
        if found is not None:
            rows.append({"family": result.outcome.family.name,
                         "kind": result.outcome.family.kind, **found})
    return {"search_extrapolation": pd.DataFrame(rows, columns=COLUMNS)}


SEARCH_BUDGET = Analysis(
    name="search_budget", title="search extrapolated", run=search_budget, order=360,
    cost=0, tables={"search_extrapolation": COLUMNS})
