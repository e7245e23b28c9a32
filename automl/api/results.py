"""What a run produces, from one family's trials up to the stored run, in one place.

- `SearchOutcome`: one family's finished search (its study's trials).
- `TestResult`: a family's best parameters refitted on the training split and scored once
  on the test split (scores, costs, predictions, the fitted model).
- `FamilyResult`: a family's `SearchOutcome` and its `TestResult`, or why it has none.
- `DataSummary` and `RunSummary`: ``run.json``, what ran on which data, typed.
- `RunRecord`: a run as stored in its output folder (`automl.engine.outputs` writes and reads it).
- `RunResult`: what ``run_task`` returns: the task, its `FamilyResult`s and its record.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from automl.api.models import ModelFamily
from automl.data.datasets import DatasetInfo
from automl.data.folds import describe_validation
from automl.data.tables import Column
from automl.fitting.row_plans import RowPlan, stopped_by_time

if TYPE_CHECKING:
    from automl.engine.task import Task


@dataclass(frozen=True)
class SearchOutcome:
    """One family's finished search: the finished trials of its study (`reused` of them
    finished by earlier runs or other workers), and what stopped it (``"n_trials"``: the
    search repeats exactly with the same seed; ``"time"``: a timeout or the time limit;
    ``"grid"``: every grid point tried; ``"skipped"``: not searched, since one fit outlasts
    a trial's time limit, see `automl.fitting.sizing`), and its best trial's out-of-fold outputs
    on the search's rows where that trial ran here (`automl.fitting.evaluate.Validated`)."""

    family: ModelFamily
    study_name: str
    trials: list[FrozenTrial]
    reused: int
    direction: str
    stopped_by: str = ""
    out_of_fold: Any = None

    def count(self, state: TrialState) -> int:
        """Trials in `state`; failed ones do not include those a time limit stopped
        (`stopped`)."""
        return sum(trial.state == state and not stopped_by_time(trial)
                   for trial in self.trials)

    @property
    def stopped(self) -> int:
        """Trials a time limit stopped (`automl.fitting.row_plans.stopped_by_time`)."""
        return sum(stopped_by_time(trial) for trial in self.trials)

    @property
    def best_trial(self) -> FrozenTrial | None:
        complete = [t for t in self.trials if t.state == TrialState.COMPLETE]
        if not complete:
            return None
        pick = max if self.direction == "maximize" else min
        return pick(complete, key=lambda t: (t.value, -t.number))

    def best_params(self, info: DatasetInfo) -> dict[str, Any] | None:
        """What `build` takes for the best trial: the family's search space replayed on
        the trial's stored suggestions, since a space may return parameters under other
        names (or derived values) than the ones it suggests."""
        best = self.best_trial
        if best is None:
            return None
        return self.family.search_space(optuna.trial.FixedTrial(best.params), info)

    @property
    def errors(self) -> list[str]:
        """Distinct reasons of the failed trials, most frequent first."""
        reasons = [t.user_attrs.get("error", "unknown error") for t in self.trials
                   if t.state == TrialState.FAIL]
        return sorted(set(reasons), key=lambda reason: -reasons.count(reason))


@dataclass(frozen=True)
class TestResult:
    """A configuration fitted on the training split (or a share of it) and scored once on
    the test split, by `automl.fitting.evaluate.fit_and_test`.

    `fit_seconds` excludes compilation, which `compile_seconds` holds (the cost of
    compiling the programs the fit used, for models that compile); `n_params`,
    `samples_per_second` and `device` come from estimators that report them;
    `predict_ms_per_1k` is NaN unless the fit was timed; `predictions` are the test
    split's predicted labels or values; `stopped` says why a fit trained in epochs or
    rounds ended at its time limit, before its own end ("" when it did not).
    """

    scores: dict[str, float]
    fit_seconds: float
    predict_ms_per_1k: float
    compile_seconds: float = math.nan
    n_params: float = math.nan
    samples_per_second: float = math.nan
    device: str = "cpu"
    predictions: np.ndarray | None = None
    estimator: Any = None  # the fitted model, for automl.engine.saved_models
    stopped: str = ""
    texts_truncated: float = math.nan  # test texts cut to the model's window (text models)


@dataclass(frozen=True)
class FamilyResult:
    """A family's search outcome and, when any trial completed, its test result.

    `rows` says how many training rows its search and refit used and why
    (`automl.fitting.sizing`); `fit_rows` are the refit's row indices (None: every training row),
    which the analyses' fits use too; `peak_mb` is the peak memory of the search process
    and its fold worker during the family's search and refit (`automl.fitting.memory`)."""

    outcome: SearchOutcome
    test: TestResult | None
    refit_error: str = ""
    rows: RowPlan | None = None
    fit_rows: np.ndarray | None = None
    peak_mb: float = math.nan

    @property
    def note(self) -> str:
        """Why a family has no test score, or why its model ended before its fit's own
        end, for the leaderboard."""
        if self.test is not None:
            return f"the refit {self.test.stopped}" if self.test.stopped else ""
        if self.rows is not None and self.rows.skipped:
            return "skipped: " + self.rows.why
        if self.refit_error:
            return "refit on the training split failed: " + self.refit_error
        if self.outcome.errors:
            return "every trial failed: " + self.outcome.errors[0]
        if self.outcome.trials:
            return "every trial was pruned"
        return "no trial ran (budget spent)"


@dataclass(frozen=True)
class DataSummary:
    """The dataset as ``run.json`` records it (``run.json``'s ``dataset``)."""

    name: str
    input_kind: str
    input_shape: tuple[int, ...]
    task_type: str
    class_names: list[str]
    n_train: int
    n_test: int
    target: str | None = None
    columns: list[Column] | None = None  # tables only: every column of the file
    notes: list[str] = field(default_factory=list)
    class_counts: list[int] = field(default_factory=list)  # per class, training split
    balanced_decisions: bool = False  # automl.api.decisions

    @classmethod
    def of(cls, info: DatasetInfo, target: str | None) -> DataSummary:
        return cls(info.name, info.input_kind, tuple(info.input_shape), info.task_type,
                   list(info.class_names or []), info.n_train, info.n_test, target,
                   list(info.columns) if info.columns is not None else None,
                   list(info.notes), list(info.class_counts or []),
                   info.balanced_decisions)

    def info(self) -> DatasetInfo:
        """The `DatasetInfo` the run's families were built with."""
        return DatasetInfo(self.name, self.input_kind, self.input_shape, self.task_type,
                           tuple(self.class_names) or None, None, self.n_train, self.n_test,
                           tuple(self.columns) if self.columns is not None else None,
                           tuple(self.notes), tuple(self.class_counts) or None,
                           self.balanced_decisions)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["columns"] = ([c.to_dict() for c in self.columns]
                           if self.columns is not None else None)
        return data

    @classmethod
    def from_json(cls, data: dict) -> DataSummary:
        columns = data.get("columns")
        return cls(**{**data, "input_shape": tuple(data["input_shape"]),
                      "columns": None if columns is None else [Column(**c) for c in columns]})


@dataclass(frozen=True)
class RunSummary:
    """``run.json``: what ran, on which data, how, and what a reader needs to reproduce
    it. Written by the run; read back by the report, ``predict`` and saved models (and
    what a report section or an ``automl_run_finished`` plugin reads as ``record.run``).

    Attributes:
        task, task_file, task_sha256: the task's name, its file and the file's digest.
        command: the command line, passwords redacted.
        seed: the task's seed.
        storage: where the Optuna studies are (passwords redacted).
        metric, metric_direction: the optimised metric and ``"maximize"``/``"minimize"``.
        report_metrics: the metrics scored on the test split (``test_<name>`` columns).
        cv_folds, sampler, pruner: the search's settings (`cv_folds` 1: one holdout
            share; `validation` says it in words).
        compared: the pairs of families refitted with several seeds and compared.
        dataset: the data (`DataSummary`: name, kind, shape, classes, split sizes, and for
            tables every column's inferred type).
        jax_devices: the JAX devices the deep families ran on ("not used" without them).
        started, wall_s: when the run started (ISO 8601, UTC) and how long it took.
        python, platform, cpus, versions: the machine and the packages' versions.
        time_limit, budget_notes: the whole-command time limit (None: none) and what it
            cut short.
        stage_seconds: wall seconds of each stage before the report: ``load``, ``search
            and refits``, ``analyses`` (the report's own come after ``wall_s``).
        outer_splits: how many seeded train/test splits were searched and tested
            (`automl.analyses.splits`); the analyses ran on the first.
    """

    task: str
    task_file: str
    task_sha256: str
    command: str
    seed: int
    storage: str
    metric: str
    metric_direction: str  # "maximize" or "minimize"
    report_metrics: list[str]
    cv_folds: int
    sampler: str
    pruner: str
    compared: list[tuple[str, str]]  # pairs of families refitted with several seeds
    dataset: DataSummary
    jax_devices: str
    started: str  # ISO 8601, UTC
    wall_s: float
    python: str
    platform: str
    cpus: int | None
    versions: dict[str, str]
    time_limit: float | None = None
    budget_notes: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    outer_splits: int = 1

    @property
    def validation(self) -> str:
        """The validation protocol in words (`automl.data.folds.describe_validation`)."""
        return describe_validation(self.cv_folds, self.dataset.n_train,
                                   self.dataset.task_type)

    def to_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["compared"] = [list(pair) for pair in self.compared]
        data["dataset"] = self.dataset.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict) -> RunSummary:
        return cls(**{**data, "compared": [tuple(pair) for pair in data["compared"]],
                      "dataset": DataSummary.from_json(data["dataset"])})

    def environment(self) -> list[tuple[str, str]]:
        """(what, value) rows for the report's reproducibility table."""
        rows = [(f.name, str(getattr(self, f.name))) for f in dataclasses.fields(self)
                if f.name not in ("versions", "dataset", "compared", "budget_notes",
                                  "stage_seconds")]
        rows += [(f"seconds of {stage}", f"{seconds:g}")
                 for stage, seconds in self.stage_seconds.items()]
        rows += [(f"version of {name}", version) for name, version in self.versions.items()]
        return rows


class Tables(dict):
    """A run's tables by name; one the run did not write (its analysis was not
    installed, or came after the run) reads as an empty DataFrame."""

    def __missing__(self, name: str) -> pd.DataFrame:
        return pd.DataFrame()


@dataclass(frozen=True)
class RunRecord:
    """A run as stored in its output folder.

    Attributes:
        folder: the output folder.
        run: ``run.json``, typed (`RunSummary`).
        task_text: the task file as run.
        tables: the run's tables by name, as pandas DataFrames, as in its CSV files:
            ``leaderboard`` (one row per family), ``trials``, ``predictions`` (per test
            row), ``ties``, ``splits`` and each analysis's (`automl.Analysis.tables`);
            one the run did not write reads as empty (`Tables`).
        examples: inputs of test rows the report shows (images the compared families
            disagree on), arrays by name.
    """

    folder: Path
    run: RunSummary
    task_text: str
    tables: dict[str, pd.DataFrame]
    examples: dict[str, np.ndarray]

    def __post_init__(self):
        if not isinstance(self.tables, Tables):
            object.__setattr__(self, "tables", Tables(self.tables))

    @property
    def leaderboard(self) -> pd.DataFrame:
        return self.tables["leaderboard"]


@dataclass(frozen=True)
class RunResult:
    """What a run produced: the families' results and the record written to disk."""

    task: Task
    results: list[FamilyResult]
    record: RunRecord

    @property
    def leaderboard(self) -> pd.DataFrame:
        return self.record.leaderboard

    @property
    def output_dir(self) -> Path:
        return self.record.folder
