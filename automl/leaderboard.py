"""The leaderboard: one row per model family, as a pandas DataFrame."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from optuna.trial import TrialState

from automl.evaluate import TestResult
from automl.metrics import Metric
from automl.search import SearchOutcome

NO_TEST = TestResult({}, math.nan, math.nan)


@dataclass(frozen=True)
class FamilyResult:
    """A family's search outcome and, when any trial completed, its test result."""

    outcome: SearchOutcome
    test: TestResult | None
    refit_error: str = ""

    @property
    def note(self) -> str:
        """Why a family has no test score, for the leaderboard."""
        if self.test is not None:
            return ""
        if self.refit_error:
            return "refit on the training split failed: " + self.refit_error
        if self.outcome.errors:
            return "every trial failed: " + self.outcome.errors[0]
        if self.outcome.trials:
            return "every trial was pruned"
        return "no trial ran (budget spent)"


def build_leaderboard(results: Sequence[FamilyResult], optimize: Metric,
                      report_metrics: Sequence[str]) -> pd.DataFrame:
    """One row per family, best test score of the optimised metric first."""
    rows = []
    for result in results:
        outcome, best = result.outcome, result.outcome.best_trial
        test = result.test.scores if result.test else {}
        test_result = result.test or NO_TEST
        rows.append({
            "family": outcome.family.name,
            "kind": outcome.family.kind,
            "cv_mean": best.value if best else math.nan,
            "cv_std": best.user_attrs.get("cv_std", math.nan) if best else math.nan,
            **{f"test_{name}": test.get(name, math.nan) for name in report_metrics},
            "fit_s": test_result.fit_seconds,
            "compile_s": test_result.compile_seconds,
            "predict_ms_per_1k": test_result.predict_ms_per_1k,
            "samples_per_s": test_result.samples_per_second,
            "n_params": test_result.n_params,
            "device": test_result.device if result.test else "",
            "depth": (best.params.get("depth", math.nan)
                      if best and outcome.family.kind == "deep" else math.nan),
            "search_s": outcome.seconds,
            "trials_complete": outcome.count(TrialState.COMPLETE),
            "trials_pruned": outcome.count(TrialState.PRUNED),
            "trials_failed": outcome.count(TrialState.FAIL),
            "trials_reused": outcome.reused,
            "best_params": json.dumps(best.params, sort_keys=True) if best else "",
            "note": result.note,
        })
    frame = pd.DataFrame(rows).astype({"n_params": "Int64", "depth": "Int64"})
    sort_by = f"test_{optimize.name}" if f"test_{optimize.name}" in frame else "cv_mean"
    frame = frame.sort_values([sort_by, "cv_mean"],
                              ascending=optimize.direction == "minimize",
                              na_position="last", kind="stable").reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def trials_table(results: Sequence[FamilyResult]) -> pd.DataFrame:
    """Every trial of every family: state, score, parameters, duration, error."""
    rows = []
    for result in results:
        for trial in result.outcome.trials:
            rows.append({
                "family": result.outcome.family.name,
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "cv_mean": trial.value if trial.state == TrialState.COMPLETE else math.nan,
                "duration_s": trial.duration.total_seconds() if trial.duration else math.nan,
                "params": json.dumps(trial.params, sort_keys=True),
                "error": trial.user_attrs.get("error", ""),
                "warnings": " | ".join(trial.user_attrs.get("warnings", [])),
            })
    return pd.DataFrame(rows, columns=["family", "trial", "state", "cv_mean", "duration_s",
                                       "params", "error", "warnings"])
