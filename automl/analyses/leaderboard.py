"""The leaderboard: one row per model family, as a pandas DataFrame."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pandas as pd
from optuna.trial import TrialState

from automl.api.metrics import Metric
from automl.api.results import FamilyResult, TestResult
from automl.search.studies import seconds_spent

NO_TEST = TestResult({}, math.nan, math.nan)


def fitted_rows(result: FamilyResult) -> float:
    """How many training rows the refit used."""
    if result.fit_rows is not None:
        return float(len(result.fit_rows))
    return float(result.rows.n_train) if result.rows is not None else math.nan


def build_leaderboard(results: Sequence[FamilyResult], optimize: Metric,
                      report_metrics: Sequence[str]) -> pd.DataFrame:
    """One row per family, best validation score first (`ranked`)."""
    shown = report_params(results)
    rows = []
    for result in results:
        outcome, best = result.outcome, result.outcome.best_trial
        test = result.test.scores if result.test else {}
        test_result = result.test or NO_TEST
        used = result.rows
        rows.append({
            "family": outcome.family.name,
            "kind": outcome.family.kind,
            "cv_mean": best.value if best else math.nan,
            "cv_std": best.user_attrs.get("cv_std", math.nan) if best else math.nan,
            **{f"test_{name}": test.get(name, math.nan) for name in report_metrics},
            "optimism": optimism(best.value if best else math.nan,
                                 test.get(optimize.name, math.nan), optimize),
            "fit_s": test_result.fit_seconds,
            "compile_s": test_result.compile_seconds,
            "predict_ms_per_1k": test_result.predict_ms_per_1k,
            "samples_per_s": test_result.samples_per_second,
            # the refit's rows (texts, for text) per second of fitting, and of predicting
            "train_rows_per_s": (fitted_rows(result) / test_result.fit_seconds
                                 if test_result.fit_seconds > 0 else math.nan),
            "predict_rows_per_s": (1e6 / test_result.predict_ms_per_1k
                                   if test_result.predict_ms_per_1k > 0 else math.nan),
            "texts_truncated": test_result.texts_truncated,
            "n_params": test_result.n_params,
            "peak_memory_mb": result.peak_mb,
            "device": test_result.device if result.test else "",
            **{name: best.params.get(name, math.nan)
               if best and name in outcome.family.report_params else math.nan
               for name in shown},
            "search_s": seconds_spent(outcome.trials),
            "search_rows": used.search_rows if used else math.nan,
            "fit_rows": used.fit_rows if used and result.test else math.nan,
            "rows_note": (used.describe(outcome.family.name)
                          if used and (used.subsampled or used.skipped) else ""),
            "trials_complete": outcome.count(TrialState.COMPLETE),
            "trials_pruned": outcome.count(TrialState.PRUNED),
            "trials_failed": outcome.count(TrialState.FAIL),
            "trials_stopped": outcome.stopped,
            "trials_reused": outcome.reused,
            "stopped_by": outcome.stopped_by,
            "best_params": json.dumps(best.params, sort_keys=True) if best else "",
            "note": result.note,
        })
    frame = pd.DataFrame(rows).astype({"n_params": "Int64", "search_rows": "Int64",
                                       "fit_rows": "Int64"})
    for name in shown:  # whole numbers (depth) shown as such, blank where not declared
        values = frame[name].dropna()
        if values.map(lambda v: isinstance(v, int | float) and float(v).is_integer()).all():
            frame[name] = frame[name].astype("Int64")
    return ranked(frame, optimize)


def report_params(results: Sequence[FamilyResult]) -> list[str]:
    """The parameters the families declare for the report (`ModelFamily.report_params`),
    in order of first declaration."""
    return list(dict.fromkeys(name for result in results
                              for name in result.outcome.family.report_params))


def report_param_columns(board: pd.DataFrame) -> list[str]:
    """The leaderboard's columns of `report_params`: those between ``device`` and
    ``search_s``."""
    columns = list(board.columns)
    return columns[columns.index("device") + 1:columns.index("search_s")]


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


def with_row(board: pd.DataFrame, row: dict, optimize: Metric) -> pd.DataFrame:
    """The leaderboard with one more row (the ensemble's: columns it lacks are blank),
    ranked again."""
    frame = pd.concat([board.drop(columns="rank"), pd.DataFrame([row])], ignore_index=True)
    for column, dtype in board.dtypes.items():  # counts stay whole, blank where unknown
        if column in frame and (str(dtype) == "Int64" or pd.api.types.is_integer_dtype(dtype)):
            frame[column] = frame[column].astype("Int64")
    for column in ("note", "rows_note", "stopped_by", "best_params", "device"):
        frame[column] = frame[column].fillna("")
    return ranked(frame, optimize)


def by_validation(results: Sequence[FamilyResult], metric: Metric) -> list[FamilyResult]:
    """The refitted families (those with a test result), best validation score first, as
    the leaderboard ranks them (ties keep their order): never by a test score."""
    scored = [r for r in results if r.test is not None and r.outcome.best_trial is not None]
    sign = 1.0 if metric.direction == "maximize" else -1.0
    return sorted(scored, key=lambda r: -sign * r.outcome.best_trial.value)


def best_validated(results: Sequence[FamilyResult], metric: Metric) -> FamilyResult:
    """The family with the best validation score (the first of `by_validation`)."""
    return by_validation(results, metric)[0]


def optimism(validation: float, test: float, optimize: Metric) -> float:
    """How much better the validation score that chose a family looked than its test
    score, the estimate for new rows (positive: validation was optimistic), in the
    metric's units whichever its direction."""
    sign = 1.0 if optimize.direction == "maximize" else -1.0
    return sign * (validation - test)


def ranked(frame: pd.DataFrame, optimize: Metric) -> pd.DataFrame:
    """Rows by validation score of the optimised metric (``cv_mean``, the same folds for
    every family), ranked; ties keep the families' order. The test columns play no part:
    the test split estimates how each family does on new rows, it does not choose."""
    frame = frame.sort_values("cv_mean", ascending=optimize.direction == "minimize",
                              na_position="last", kind="stable").reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame
