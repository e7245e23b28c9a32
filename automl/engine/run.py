"""One run of a task, top to bottom: task -> dataset -> families -> searches -> results ->
report. `run_task` is the whole flow; each step below it is one function."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from automl.analyses.api import AnalysisContext
from automl.analyses.leaderboard import build_leaderboard, trials_table, with_row
from automl.analyses.measures import disagreements, families_to_compare
from automl.analyses.splits import outer_splits, split_table
from automl.analyses.stage import run_analyses
from automl.analyses.ties import tie_table
from automl.api.caches import use_cache_of
from automl.api.errors import AutomlError
from automl.api.metrics import Metric
from automl.api.models import ModelFamily
from automl.api.results import (
    DataSummary,
    FamilyResult,
    RunRecord,
    RunResult,
    RunSummary,
    SearchOutcome,
)
from automl.data.datasets import Dataset, DatasetInfo, RawData, Split, prepare_dataset
from automl.data.folds import describe_validation, fold_labels, validation_folds
from automl.data.input_kinds import kind_of
from automl.engine.outputs import claim_folder, record_written, write_record
from automl.engine.plugins import Registry
from automl.engine.progress import Progress
from automl.engine.saved_models import save_model
from automl.engine.task import (
    DEFAULT_METRICS,
    Task,
    analysis_options,
    check_plugin_names,
    choose_loader,
    loader_options,
)
from automl.fitting.budget import SplitPlan, TimePlan
from automl.fitting.devices import describe_devices, resolve_device
from automl.fitting.evaluate import fit_and_test, rows_predicted_by_refit
from automl.fitting.memory import peak_mb, reset_peak
from automl.fitting.row_plans import RowPlan
from automl.fitting.sizing import (
    FOLDS_DONE,
    MIN_ROWS,
    MIN_STOP_SECONDS,
    REFIT_SAFETY,
    plan_after_stop,
    plan_fit_rows,
    plan_search_rows,
    refit_needs,
    refit_stop,
    scales_linearly,
    stratified_rows,
    subset,
    trial_rows,
)
from automl.fitting.stoppable import TrialStopped, run_stoppable, shared_worker
from automl.report.page import write_html_report
from automl.search import (
    STALE_SECONDS,
    SearchSettings,
    budget_used,
    check_sampler_supports,
    describe,
    fail_interrupted_trials,
    finished_trials,
    interrupted,
    open_storage,
    open_study,
    redact,
    search_family,
    seconds_spent,
    worker_id,
)

SHOWN_TEXT_CHARS = 400
"""The most characters of a text the report shows (and the run folder keeps) as an
example the compared families disagree on."""
VERSIONED_PACKAGES = ("automl", "optuna", "scikit-learn", "numpy", "pandas", "pluggy", "jax",
                      "flax", "optax")


def run_task(task: Task, registry: Registry, *, storage_url: str | None = None,
             device: str | None = None, progress: Progress | None = None,
             command: str = "", search_only: bool = False,
             time_limit: float | None = None,
             limit_from: float | None = None) -> RunResult | None:
    """Search every family the task selects, analyse the results, and write them and the
    report to the task's output folder.

    `storage_url`, `device` and `time_limit` override the task file's; the limit counts
    from `limit_from` (a ``time.monotonic()`` time; default: now), which the command line
    sets to when the process began loading the engine. With
    `search_only` (a worker among several on one storage) it returns after the search,
    writing nothing; the run without it refits, analyses and reports."""
    progress = progress or Progress()
    started = time.time()
    plan = TimePlan(time_limit or task.time_limit, started=limit_from or time.monotonic())
    check_plugin_names(task, registry)
    raw = load_raw(task, registry)
    dataset = split_of(task, raw, task.seed)
    stages = {"load": round(time.time() - started, 2)}
    info = dataset.info
    progress.message(f"dataset {info.name}: {info.n_train} train / {info.n_test} test "
                     f"samples, {info.input_kind} {info.input_shape}, {info.task_type}"
                     + (f", {info.n_classes} classes" if info.n_classes else ""))
    for line in describe_columns(info):
        progress.message(line)
    metric, report_metrics = choose_metrics(task, registry, info)
    dataset = deciding(dataset, metric)
    info = dataset.info
    if info.balanced_decisions:
        progress.message(f"decisions: {metric.name} counts every class alike and the "
                         "classes are uneven, so each classifier predicts the class most "
                         "probable once divided by its share of the training rows")
    families = choose_families(task, registry, info)
    platform = choose_platform(task, device, families)
    task = replace(task, cv_folds=choose_folds(task, dataset))  # every stage's folds
    output_dir = claim_folder(task.output_dir, other_files=task.other_files)
    record_written(output_dir, [use_cache_of(output_dir)])
    storage_url = storage_url or task.storage
    settings = SearchSettings(task.name, task.seed, task.sampler, task.pruner, task.cv_folds,
                              metric, fingerprint(dataset), platform, task.trial_timeout,
                              task.population, worker_salt=worker_id() if search_only else "")
    check_sampler_supports(settings, families)
    storage = open_storage(storage_url, output_dir)
    progress.message(f"searching {len(families)} families for the best {metric.name} "
                     f"on {platform}; studies in {describe(storage_url, output_dir)}")
    progress.message(f"validation: every family on "
                     f"{describe_validation(task.cv_folds, info.n_train, info.task_type)}, "
                     f"which choose; the {info.n_test:,} test rows only estimate, scored "
                     "once per family")
    if plan.limit is not None:
        progress.message(plan.describe())
        progress.plan = plan

    if (plan.limit or task.trial_timeout or task.total_timeout
            or any(task.budget_for(f.name).timeout for f in families)):
        # refits and analyses' fits then run in the worker: send the data once
        shared_worker().hold("dataset", dataset)
    count = outer_splits(task.repeats, info.n_train, plan.limit, raw.X_test is not None,
                         len(families))
    if count > 1:
        progress.message(f"outer splits: {count} seeded train/test splits (split seeds "
                         f"{task.seed} to {task.seed + count - 1}), each searched, refitted "
                         "and tested" + (", sharing the time limit's search" if plan.limit
                                         else ", each with the task's budgets"))
    results = search_all(task, families, dataset, settings, storage, report_metrics,
                         registry, progress, SplitPlan.of(plan, 0, count), search_only)
    per_split = [results, *other_splits(task, raw, count, families, settings, storage,
                                        report_metrics, registry, progress, plan,
                                        search_only)]
    if search_only:
        return None
    stages["search and refits"] = round(time.time() - started - sum(stages.values()), 2)
    save_models(results, output_dir, progress)
    reused = sum(result.outcome.reused for result in results)
    if reused:
        progress.message(f"reused {reused} trials finished by earlier runs")
    metrics = {name: registry.metrics[name].item for name in report_metrics}
    pairs = families_to_compare(results, metric, task.compare) if task.report_seeds else []
    analyses_started = time.time()
    tables, notes = analyse(task, registry, results, dataset, metric, metrics, pairs,
                            platform, progress, plan, stages, output_dir)
    tables["splits"] = split_table(per_split, [task.seed + i for i in range(count)], metric)
    for note in notes:
        progress.message(f"note: {note}")
    stages["analyses"] = round(time.time() - analyses_started, 2)
    run = replace(run_summary(task, info, metric, report_metrics, pairs, started, command,
                              describe(storage_url, output_dir), platform, families, plan,
                              notes, stages), outer_splits=count)
    record = RunRecord(output_dir, run, redact(task.source.text), tables,
                       disagreement_examples(dataset, tables["predictions"], pairs))
    write_record(record)
    write_html_report(record, output_dir, registry)
    registry.run_finished(record=record)
    return RunResult(task, results, record)


def other_splits(task: Task, raw: RawData, count: int, families: list[ModelFamily],
                 settings: SearchSettings, storage, report_metrics: list[str],
                 registry: Registry, progress: Progress, plan: TimePlan,
                 search_only: bool) -> list[list[FamilyResult]]:
    """Search, refit and test on the outer splits after the first (split seeds task seed
    + 1, ...): each split's studies are its own (its training rows are in their names),
    so a rerun reuses their trials; under a time limit each split's search and refits end
    at its share of the run's (`automl.fitting.budget.SplitPlan`). Their models are not saved."""
    found = []
    for index in range(1, count):
        dataset = deciding(split_of(task, raw, task.seed + index), settings.metric)
        progress.message(f"outer split {index + 1} of {count} (split seed "
                         f"{task.seed + index}): {dataset.info.n_train} train / "
                         f"{dataset.info.n_test} test samples")
        found.append(search_all(task, families, dataset,
                                replace(settings, data_fingerprint=fingerprint(dataset)),
                                storage, report_metrics, registry, progress,
                                SplitPlan.of(plan, index, count), search_only))
    return found


def analyse(task: Task, registry: Registry, results: list[FamilyResult], dataset: Dataset,
            metric: Metric, metrics: dict[str, Metric], pairs: list[tuple[str, str]],
            platform: str, progress: Progress, plan: TimePlan, stages: dict[str, float],
            folder: Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The run's tables: the leaderboard (with the rows analyses add, as the ensemble's),
    the trials, the test predictions, the ties, and every registered analysis's
    (`automl.analyses.stage`), each one's wall seconds added to `stages`. Returns them
    and the notes of analyses a time limit cut short."""
    context = AnalysisContext(results, dataset, metric, metrics, task.seed,
                              task.report_seeds, pairs, task.cv_folds, platform, progress,
                              folder=folder)
    notes = run_analyses([(entry.item, entry.plugin) for entry in registry.analyses.values()],
                         analysis_options(task, registry), context, plan, stages,
                         registry.guarded, registry.fail)
    predictions = predictions_table(dataset, results)
    board = build_leaderboard(results, metric, list(metrics))
    for row in context.leaderboard_rows:
        board = with_row(board, row, metric)
    for name, values in context.leaderboard_columns.items():
        board[name] = board["family"].map(values)
    for name, values in context.prediction_columns.items():
        predictions[name] = values
    return {"leaderboard": board, "trials": trials_table(results),
            "predictions": predictions, "ties": tie_table(results, metric, task.cv_folds),
            **context.tables}, notes


def load_dataset(task: Task, registry: Registry) -> Dataset:
    """The task's data, split into train and test by the task's seed."""
    return split_of(task, load_raw(task, registry), task.seed)


def load_raw(task: Task, registry: Registry) -> RawData:
    """The task's data as its loader plugin reads it, before any split."""
    loader = choose_loader(task, registry)
    return loader.load(loader_options(task, loader))


def split_of(task: Task, raw: RawData, seed: int) -> Dataset:
    """`raw` checked and split into train and test by `seed` (the task's seed for the
    first outer split, then seed + 1, ...), each training row given its validation fold
    (`automl.data.folds.fold_labels`, drawn with the task's seed)."""
    dataset = prepare_dataset(raw, name=task.dataset_loader or Path(raw.source).name,
                              task_type=task.task_type, test_size=task.test_size, seed=seed,
                              groups=task.groups)
    labels = fold_labels(dataset.info, dataset.train.y, choose_folds(task, dataset),
                         task.seed)
    return replace(dataset, train=replace(dataset.train, folds=labels))


def deciding(dataset: Dataset, metric: Metric) -> Dataset:
    """`dataset` with balanced decisions (`automl.api.decisions`) where `metric` counts every
    class alike and the training classes are uneven."""
    if not (metric.weighs_classes and dataset.info.imbalanced):
        return dataset
    return replace(dataset, info=replace(dataset.info, balanced_decisions=True))


def describe_columns(info: DatasetInfo) -> list[str]:
    """What the user should see of a table before the search: each column's inferred
    type (grouped), the columns left out and why, and the loader's notes."""
    lines = [f"note: {note}" for note in info.notes]
    if info.columns is None:
        return lines
    by_type: dict[str, list[str]] = {}
    for column in info.columns:
        by_type.setdefault(column.type, []).append(column.name)
    lines.append("columns: " + "; ".join(
        f"{kind} {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
        for kind, names in by_type.items() if kind not in ("identifier", "constant",
                                                           "ignored")))
    lines += [f"column {column.name!r} ({column.type}) {column.note or 'left out'}"
              for column in info.columns if not column.used]
    return lines


def choose_metrics(task: Task, registry: Registry,
                   info: DatasetInfo) -> tuple[Metric, list[str]]:
    """The metric to optimise and the metrics to report, checked against the task type."""
    default_optimize, default_report = DEFAULT_METRICS[info.task_type]
    optimize = task.optimize or default_optimize
    report = list(task.report_metrics or default_report)
    if optimize not in report:
        report.insert(0, optimize)
    for key, names in (("metrics.optimize", [optimize]), ("metrics.report", report)):
        for name in names:
            if info.task_type not in registry.metrics[name].item.task_types:
                raise task.error(key, f"metric '{name}' does not apply to "
                                 f"{info.task_type}", expected="one of " + ", ".join(
                                     sorted(n for n, e in registry.metrics.items()
                                            if info.task_type in e.item.task_types)))
    return registry.metrics[optimize].item, report


def choose_families(task: Task, registry: Registry, info: DatasetInfo) -> list[ModelFamily]:
    """The families to search: included (default all) minus excluded, that accept the data;
    on data with text, the families made for text first (then a time limit cannot spend
    itself on table families applied to a vectorised text column before they start)."""
    names = task.include or tuple(registry.models)
    chosen = [registry.models[name].item for name in names if name not in task.exclude]
    refused = [family.name for family in chosen if not family.accepts(info)]
    if refused and task.include:
        raise task.error("families.include", f"these families cannot model "
                         f"{info.input_kind} {info.task_type} data: " + ", ".join(refused))
    chosen = [family for family in chosen if family.accepts(info)]
    if not chosen:
        raise task.error("families", f"no installed model family accepts "
                         f"{info.input_kind} {info.task_type} data")
    if info.input_kind == "text" or info.text_columns:
        chosen.sort(key=lambda family: "text" not in family.input_kinds)
    return chosen


def choose_platform(task: Task, override: str | None, families: list[ModelFamily]) -> str:
    """The JAX platform for the families that run on it (`ModelFamily.runs_on_device`).
    JAX is asked only when one runs or a platform is named, so other runs do not import
    it."""
    name = override or task.device
    if name == "auto" and not any(family.runs_on_device for family in families):
        return "cpu"
    try:
        return resolve_device(name)
    except AutomlError as error:
        if override:
            error.key = "--device"
            raise
        raise task.error("device", error.problem, expected=error.expected,
                         hint=error.hint) from None


def choose_folds(task: Task, dataset: Dataset) -> int:
    """The task's validation folds (`automl.data.folds.validation_folds`). Folds the task sets
    must not outnumber the rows of the rarest class (or the rows); folds by the default
    rule are lowered to them (at least 2: a class rarer still is not stratified)."""
    n_train = dataset.info.n_train
    folds = validation_folds(n_train, task.cv_folds)
    rarest, what = n_train, "training samples"
    if dataset.info.task_type == "classification":
        rarest = int(min(pd.Series(dataset.train.y).value_counts()))
        what = "training samples of the rarest class"
    if task.cv_folds is None:
        return min(folds, max(2, rarest)) if folds > 1 else folds
    if folds > rarest:
        raise task.error("search.cv_folds", f"more CV folds than {what}",
                         expected=f"at most {rarest} folds", found=folds)
    return folds


def fingerprint(dataset: Dataset) -> str:
    """Digest of the training data, so changed data starts new studies."""
    digest = hashlib.sha256()
    for data in (dataset.train.X, dataset.train.y):
        if isinstance(data, pd.DataFrame):  # a table: its values, names and dtypes
            digest.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
            digest.update(repr(list(data.dtypes.items())).encode())
        else:
            digest.update(data.tobytes())
    return digest.hexdigest()


def search_all(task: Task, families: list[ModelFamily], dataset: Dataset,
               settings: SearchSettings, storage, report_metrics: list[str],
               registry: Registry, progress: Progress, plan: TimePlan,
               search_only: bool = False) -> list[FamilyResult]:
    """Search each family in turn, then (unless `search_only`) refit its best parameters
    and score them on test.

    Budgets count the trials of earlier runs and of other workers on the same storage,
    so rerunning a finished task reuses its trials instead of searching again. Under a
    time limit (`plan`), each family also gets its share of the search stage's wall time
    left, whose `TRIALS_SHARE` its trials take (less its probe's seconds); the refits then
    follow every search (`refit_stage`). No trial runs past its family's seconds (see
    `automl.search.loop.TrialSteps`); each family's rows are sized to its limits
    (`automl.fitting.sizing`)."""
    studies = {family.name: open_study(storage, settings, family.name) for family in families}
    stale = max(STALE_SECONDS, 3 * (task.trial_timeout or 0))
    gone = sum(len(fail_interrupted_trials(study, stale)) for study in studies.values())
    if gone:
        progress.message(f"{gone} trials were left running by a process that stopped: "
                         "marked failed, their parameters queued to run again")
    earlier = {name: [t for t in finished_trials(study) if not interrupted(t)]
               for name, study in studies.items()}  # finished by earlier runs
    planned, kept = ({}, {}) if plan.limit is None else search_defaults(
        task, families, studies, dataset, settings, registry, progress, plan)
    if planned:  # those still without a score search first, with the most time left
        families = sorted(families, key=lambda family: _best(studies[family.name]) is not None)
    spent = {name: seconds_spent(finished_trials(study)) for name, study in studies.items()}
    metrics = {name: registry.metrics[name].item for name in report_metrics}
    weights = time_weights(task, families)
    if planned:
        reserve_refits(planned, studies, families, dataset, task.cv_folds, plan, progress)
    results, waiting = [], []
    for index, family in enumerate(families):
        study, budget = studies[family.name], task.budget_for(family.name)
        seconds = None if budget.timeout is None else budget.timeout - spent[family.name]
        if task.total_timeout is not None:
            left = task.total_timeout - sum(spent.values())
            share = left * weights[index] / sum(weights[index:])
            seconds = share if seconds is None else min(seconds, share)
        family_end = None  # under a time limit, when the family's wall-clock share ends
        if plan.limit is not None:
            wall = plan.left("search") * weights[index] / sum(weights[index:])
            if first_trial_stopped(study) is not None:  # no model yet: its retry may take
                wall = max(wall, plan.left("search") / 2)  # up to half of what is left
            family_end = time.monotonic() + wall
            share = wall * TRIALS_SHARE
            seconds = share if seconds is None else min(seconds, share)
        seconds = None if seconds is None else max(0.0, seconds)
        limit = soonest(task.trial_timeout, seconds)  # what one trial (or the refit) may take
        previous = earlier[family.name]
        memory = [os.getpid(), shared_worker().pid]
        reset_peak(memory)
        rows = planned.get(family.name)
        if rows is None or (rows.skipped and family_end is not None):  # probed (again)
            rows = search_rows(family, study, dataset, settings, limit,
                               will_search=budget_used(study) < budget.n_trials
                               and seconds != 0)
        if family_end is not None:  # the probe's seconds come out of the trials' share
            seconds = max(0.0, min(seconds, (family_end - time.monotonic()) * TRIALS_SHARE))
            stopped = first_trial_stopped(study)
            if stopped is not None and not rows.skipped:  # again, on rows that fit
                rows = retried(family, study, rows, stopped, task.cv_folds,
                               soonest(task.trial_timeout, seconds))
                progress.message(rows.describe(family.name))
        progress.family_started(f"{index + 1}/{len(families)}", family.name,
                                budget.n_trials, finished_trials(study), _best(study),
                                seconds, reused=len(previous))
        if rows.why and rows is not planned.get(family.name):  # else said already
            progress.message(rows.describe(family.name))
        best_outputs = kept.get(family.name, {})
        stopped_by = "skipped" if rows.skipped else search_family(
            study, family, dataset.info, training_rows(rows.search_rows, dataset, task.seed),
            settings, n_trials=budget.n_trials, seconds=seconds,
            stage_end=plan.end("search"), family_end=family_end,
            on_trial=lambda trial, study=study, family=family: trial_finished(
                trial, study, family, task, registry, progress),
            best_outputs=best_outputs)
        trials = finished_trials(study)
        spent[family.name] = seconds_spent(trials)
        outcome = SearchOutcome(family, study.study_name, trials, len(previous),
                                settings.metric.direction, stopped_by)
        if outcome.best_trial is not None:
            outcome = replace(outcome, out_of_fold=on_training_rows(
                best_outputs.get(outcome.best_trial.number), rows.search_rows, dataset,
                task.seed))
        if search_only:
            progress.family_finished(f"{len(trials) - len(previous)} trials run here")
            continue
        searched = Searched(outcome, rows, limit, peak_mb([*memory, shared_worker().pid]))
        if plan.limit is not None:  # refitted in the refit stage, after every search
            waiting.append(searched)
            progress.family_finished("refit after the searches")
            continue
        result = refit_searched(searched, dataset, metrics, task, settings, limit,
                                progress=progress)
        results.append(result)
        progress.family_finished(_summary(result, settings.metric))
    if waiting:
        results = refit_stage(waiting, dataset, metrics, task, settings, progress, plan)
    return results


@dataclass(frozen=True)
class Searched:
    """A family's search, waiting for its refit: its outcome, its rows, what one of its
    trials could take (None: no limit) and the search's peak memory."""

    outcome: SearchOutcome
    rows: RowPlan
    trial_limit: float | None
    peak_mb: float


def fewer_rows(family: ModelFamily, rows: RowPlan, folds: int) -> tuple[int, str]:
    """The rows of a second refit after one stopped by time, and what they are: as many
    as one of its trials' fits had; a quarter of the first refit's for a family whose
    prediction of a row grows with its training rows (kNN): the test rows it predicts,
    not the fit, are what ran past, and a quarter of the rows predicts them in about a
    quarter of the time."""
    if family.cost.predict_rows > 0:
        return (max(min(MIN_ROWS, rows.n_train), (rows.fit_rows or rows.n_train) // 4),
                "a quarter, since its prediction of a row grows with its rows")
    return trial_rows(rows, folds), "as many as one of its trials' fits had"


def refit_searched(searched: Searched, dataset: Dataset, metrics: dict[str, Metric],
                   task: Task, settings: SearchSettings, refit_limit: float | None,
                   plan: TimePlan | None = None, progress: Progress | None = None
                   ) -> FamilyResult:
    """The refit of a searched family, on the rows that fit `refit_limit` seconds
    (`automl.fitting.sizing.plan_fit_rows`; None: all of them, or the declared cap), stopped by
    `automl.fitting.sizing.refit_stop` and never past the analyses' end of `plan` (nor before
    `MIN_STOP_SECONDS`). One stopped by time is refitted once on fewer rows
    (`fewer_rows`), stopped as a refit not sized by time is: a prediction that far off
    (a cache the trials enjoyed, a slow prediction of the test rows) should cost the
    family rows, not its model."""
    outcome, rows = searched.outcome, searched.rows
    best = outcome.best_trial and outcome.best_trial.duration
    trial_seconds = best.total_seconds() if best else 0.0

    def stop_for(rows: RowPlan, limit: float | None) -> float | None:
        stop = refit_stop(rows, limit, searched.trial_limit, trial_seconds,
                          ends_itself=outcome.family.fit_stops_itself)
        if stop is not None and plan is not None:
            stop = soonest(stop, max(plan.left("analyses") or 0.0, MIN_STOP_SECONDS))
        return stop

    stop = None
    if outcome.best_trial is not None:
        rows = plan_fit_rows(outcome.family, rows, outcome.best_trial, task.cv_folds,
                             refit_limit, rows_predicted_by_refit(dataset.info.n_test))
        if rows.fit_why and progress is not None:
            progress.message(rows.describe_refit(outcome.family.name))
        stop = stop_for(rows, refit_limit)
    memory = [os.getpid(), shared_worker().pid]
    reset_peak(memory)
    fewer, which = fewer_rows(outcome.family, rows, task.cv_folds)
    try:
        result = refit(outcome, dataset, metrics, task.seed, settings.device, rows, stop,
                       raise_stopped=fewer < (rows.fit_rows or rows.n_train))
    except TrialStopped:  # a model on fewer rows rather than none
        rows = replace(rows, fit_rows=fewer, refit_seconds=None, fit_why=(
            f"its refit on {rows.fit_rows or rows.n_train:,} rows ran past {stop:.3g} s; "
            f"refitted on {fewer:,}, {which}"))
        if progress is not None:
            progress.message(rows.describe_refit(outcome.family.name))
        result = refit(outcome, dataset, metrics, task.seed, settings.device, rows,
                       stop_for(rows, None))
    return replace(result, peak_mb=max(searched.peak_mb, peak_mb(memory)))


def refit_stage(waiting: list[Searched], dataset: Dataset, metrics: dict[str, Metric],
                task: Task, settings: SearchSettings, progress: Progress,
                plan: TimePlan) -> list[FamilyResult]:
    """Under a time limit, every family's refit after all the searches, in what is left of
    the refit stage. The learners whose cost grows faster than the rows (forests, nearest
    neighbours, kernel machines: not `automl.fitting.sizing.scales_linearly`) come first, each
    sized to an even share of what is left less what the learners that scale linearly
    are predicted to take on all their rows, and never below their trials' rows; so
    those that scale linearly (boosting, linear models, naive Bayes, networks), which a
    large table's refit on every row is for, get what the others really took, not what
    they were predicted to, and those that end themselves at their limit (boosters,
    networks) take up what a prediction got wrong. In each tier cheapest first (by the
    predicted refit on all its rows), so that what the cheap ones leave goes to the
    dear ones. Results in `waiting`'s order."""
    needs = [refit_needs(searched.outcome.family, searched.rows, searched.outcome.best_trial,
                         task.cv_folds, rows_predicted_by_refit(dataset.info.n_test))
             for searched in waiting]
    last = [scales_linearly(searched.outcome.family) for searched in waiting]
    order = sorted(range(len(waiting)), key=lambda i: (last[i], needs[i][0]))
    results: dict[int, FamilyResult] = {}
    for position, index in enumerate(order):
        searched, later = waiting[index], order[position + 1:]
        kept = 0.0 if last[index] else sum(needs[i][0] for i in later if last[i])
        alike = 1 + sum(last[i] == last[index] for i in later)
        share = max(0.0, (plan.left("refits") or 0.0) - kept) / alike
        started = time.monotonic()
        result = results[index] = refit_searched(searched, dataset, metrics, task,
                                                 settings, share, plan, progress)
        progress.refit_finished(f"refit {position + 1}/{len(order)}",
                                searched.outcome.family.name, time.monotonic() - started,
                                _summary(result, settings.metric))
    return [results[index] for index in range(len(waiting))]


def reserve_refits(planned: dict[str, RowPlan], studies: dict, families: list[ModelFamily],
                   dataset: Dataset, folds: int, plan: TimePlan, progress: Progress) -> None:
    """After the first-trial round, the refit stage's room: the predicted seconds of the
    refits `refit_stage` plans (on all the rows they may use for the learners that scale
    linearly, on their searches' rows for the others), at `REFIT_SAFETY` (a sized
    refit's margin), taken from the end of the search stage and from the analyses
    (`automl.fitting.budget.TimePlan.reserve_refits`)."""
    seconds = 0.0
    for family in [f for f in families if f.name in planned]:
        study = studies[family.name]
        if _best(study) is not None:  # one without yet is retried in the search first
            all_rows, searched_rows = refit_needs(
                family, planned[family.name], study.best_trial, folds,
                rows_predicted_by_refit(dataset.info.n_test))
            seconds += all_rows if scales_linearly(family) else searched_rows
    if seconds / REFIT_SAFETY > (plan.share("refits") - plan.share("search")) * plan.limit:
        reserved = plan.reserve_refits(seconds / REFIT_SAFETY)
        progress.message(f"refits: {reserved:.0f} s kept for the refits (predicted "
                         f"{seconds:.0f} s); the search ends by "
                         f"{plan.end('search') - plan.started:.0f} s, the refits by "
                         f"{plan.end('refits') - plan.started:.0f} s")


DEFAULTS_SHARE = 0.4
"""Under a time limit, the share of the search stage in which each family's first trial
runs (its starting point: the library's defaults), before any family searches further."""

RETRY_SHARE = 0.5
"""Of what the first round leaves of the search stage, the share in which the families it
left without a score (their probe or their first trial ran past an equal share of
`DEFAULTS_SHARE`) try once more, before any family searches further."""


def search_defaults(task: Task, families: list[ModelFamily], studies: dict, dataset: Dataset,
                    settings: SearchSettings, registry: Registry, progress: Progress,
                    plan: TimePlan) -> tuple[dict[str, RowPlan], dict[str, dict]]:
    """Under a time limit, the first trial of every family without a score, before any
    family searches further: cheapest first (families scored by folds before those
    trained in epochs, then by how their fit grows with the rows), each in an equal share
    of what is left of `DEFAULTS_SHARE` of the search stage, so that what the cheap ones
    leave goes to the dear ones. A family still without a score then tries once more in
    an equal share of `RETRY_SHARE` of what is left: a stopped first trial on the rows its
    pace says fit (`automl.fitting.sizing.plan_after_stop`), a family whose probe ran out
    of time probed again. The families' order then decides how hard each is searched,
    never whether it has a model. Returns each family's planned rows (its search goes on
    on them) and its best trial's out-of-fold outputs."""
    waiting = [family for family in families
               if _best(studies[family.name]) is None
               and budget_used(studies[family.name]) < task.budget_for(family.name).n_trials]
    waiting.sort(key=lambda family: (family.evaluation != "cv", family.cost.fit_rows))
    planned, kept = {}, {}
    rounds = (("first trial", waiting, DEFAULTS_SHARE),
              ("first trial, again", None, RETRY_SHARE))
    for label, families_now, share_of_stage in rounds:
        if families_now is None:  # the second round: those time left without a score
            families_now = [family for family in waiting
                            if planned[family.name].skipped
                            or first_trial_stopped(studies[family.name]) is not None]
        end = time.monotonic() + (plan.left("search") or 0.0) * share_of_stage
        for index, family in enumerate(families_now):
            share = max(0.0, end - time.monotonic()) / (len(families_now) - index)
            planned[family.name] = _first_trial(
                family, studies[family.name], planned.get(family.name), share, task, dataset,
                settings, registry, progress, plan, kept.setdefault(family.name, {}),
                f"{label} {index + 1}/{len(families_now)}")
    return planned, kept


def _first_trial(family: ModelFamily, study, rows: RowPlan | None, share: float, task: Task,
                 dataset: Dataset, settings: SearchSettings, registry: Registry,
                 progress: Progress, plan: TimePlan, kept: dict, label: str) -> RowPlan:
    """One family's first trial (or its retry, given the `rows` its first try planned) in
    `share` seconds from now; the rows its search goes on on."""
    family_end = time.monotonic() + share
    limit = soonest(task.trial_timeout, share)
    stopped = first_trial_stopped(study)
    if rows is not None and stopped is not None and not rows.skipped:
        rows = retried(family, study, rows, stopped, task.cv_folds, limit)
    else:
        rows = search_rows(family, study, dataset, settings, limit, will_search=True)
    progress.family_started(label, family.name, budget_used(study) + 1,
                            finished_trials(study), None, share)
    if rows.why:
        progress.message(rows.describe(family.name))
    if not rows.skipped:
        search_family(study, family, dataset.info,
                      training_rows(rows.search_rows, dataset, task.seed), settings,
                      n_trials=budget_used(study) + 1,
                      seconds=max(0.0, family_end - time.monotonic()),
                      stage_end=plan.end("search"), family_end=family_end,
                      on_trial=lambda trial: trial_finished(trial, study, family, task,
                                                            registry, progress),
                      best_outputs=kept)
    progress.family_finished("" if _best(study) is not None else "no score yet")
    return rows


TRIALS_SHARE = 0.75
"""Under a time limit, the share of a family's wall-clock time its trials may take: the
probe fits take some of the rest, and what is left goes to the families after it and
then to the refits."""


def soonest(*limits: float | None) -> float | None:
    """The smallest of the limits that are set (None when none is)."""
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def search_rows(family: ModelFamily, study, dataset: Dataset, settings: SearchSettings,
                limit: float | None, *, will_search: bool) -> RowPlan:
    """How many rows the family's search uses (`automl.fitting.sizing.plan_search_rows`),
    recorded on its study; a family with no trial left to run keeps the rows its study
    recorded, so that a rerun's refit is sized as the search was."""
    if not will_search:
        recorded = study.user_attrs.get("search_rows")
        return RowPlan(dataset.info.n_train, recorded or dataset.info.n_train,
                       study.user_attrs.get("search_rows_why", ""))
    rows = plan_search_rows(family, dataset, settings.cv_folds, settings.seed,
                            settings.device, limit, shared_worker())
    record_rows(study, rows)
    return rows


def retried(family: ModelFamily, study, rows: RowPlan, stopped, folds: int,
            limit: float | None) -> RowPlan:
    """The rows a family whose first trial time stopped (`stopped`) tries again on, in
    `limit` seconds (`automl.fitting.sizing.plan_after_stop`), recorded on its study, with
    the stopped parameters queued to run again."""
    rows = plan_after_stop(family, rows, stopped, folds, limit)
    record_rows(study, rows)
    study.enqueue_trial(stopped.params)
    return rows


def record_rows(study, rows: RowPlan) -> None:
    """The rows a family's search uses, on its study (a rerun's refit reads them)."""
    study.set_user_attr("search_rows", rows.search_rows)
    study.set_user_attr("search_rows_why", rows.why)


def first_trial_stopped(study):
    """The last trial of a study without a score, where time stopped it (it then says how
    many folds it scored: `automl.fitting.sizing.FOLDS_DONE`); None otherwise."""
    if _best(study) is not None:
        return None
    stopped = [t for t in finished_trials(study) if FOLDS_DONE in t.user_attrs]
    return stopped[-1] if stopped else None


def rows_of(n: int, dataset: Dataset, seed: int) -> np.ndarray:
    """The training rows a family uses when it uses `n` of them: a stratified subsample
    drawn with the task's seed, the same for every family of that size."""
    return stratified_rows(dataset.train.y, dataset.info, n, seed)


def training_rows(n: int, dataset: Dataset, seed: int) -> Split:
    """The training split, or its subsample of `n` rows (`rows_of`)."""
    if n >= dataset.info.n_train:
        return dataset.train  # not a copy: a large table is held once
    return subset(dataset.train, rows_of(n, dataset, seed))


def on_training_rows(outputs: np.ndarray | None, n: int, dataset: Dataset, seed: int
                     ) -> np.ndarray | None:
    """Out-of-fold `outputs` of a search on `n` training rows (`training_rows`), placed
    at those rows of the whole training split (NaN elsewhere)."""
    if outputs is None or n >= dataset.info.n_train:
        return outputs
    placed = np.full((dataset.info.n_train, *outputs.shape[1:]), np.nan)
    placed[np.sort(rows_of(n, dataset, seed))] = outputs
    return placed


def trial_finished(trial, study, family: ModelFamily, task: Task, registry: Registry,
                   progress: Progress) -> None:
    progress.trial_finished(trial, _best(study))
    registry.trial_finished(task=task.name, family=family.name, trial=trial)


def save_models(results: list[FamilyResult], output_dir: Path, progress: Progress) -> None:
    """Each family's refitted model under models/ (see automl.engine.saved_models); one that
    cannot be saved is reported and the run goes on."""
    for result in results:
        if result.test is None or result.test.estimator is None:
            continue
        try:
            record_written(output_dir, [save_model(result.test.estimator,
                                                   result.outcome.family.name, output_dir)])
        except Exception as error:  # a model skops cannot store must not lose the run
            progress.message(f"model of {result.outcome.family.name} not saved: "
                             f"{type(error).__name__}: {error}")


def time_weights(task: Task, families: list[ModelFamily]) -> list[float]:
    """How `total_timeout` is shared: in proportion to each family's own timeout (a
    family without one weighs as much as the average family that has one)."""
    timeouts = [task.budget_for(family.name).timeout for family in families]
    known = [t for t in timeouts if t is not None]
    default = sum(known) / len(known) if known else 1.0
    return [t if t is not None else default for t in timeouts]


def refit(outcome: SearchOutcome, dataset: Dataset, metrics: dict[str, Metric],
          seed: int, device: str, rows: RowPlan, stop: float | None = None,
          raise_stopped: bool = False) -> FamilyResult:
    """The best configuration fitted on the rows `rows` plans (all of the training split,
    or a subsample of `rows.fit_rows`) and scored once on the test split; stopped after
    `stop` seconds (`automl.fitting.stoppable.run_stoppable`), with no model then, or with
    `raise_stopped`, `TrialStopped` raised (for a refit on fewer rows)."""
    best = outcome.best_trial
    if best is None:
        return FamilyResult(outcome, None, rows=rows)
    fit_rows = (rows_of(rows.fit_rows, dataset, seed)
                if (rows.fit_rows or rows.n_train) < rows.n_train else None)
    family = outcome.family
    try:
        test = run_stoppable(family, partial(fit_and_test, rows=fit_rows),
                             (family, outcome.best_params(dataset.info), dataset, metrics,
                              seed, device), stop, f"the refit of {family.name}")
    except Exception as error:  # report it on the family's row; other families go on
        if raise_stopped and isinstance(error, TrialStopped):
            raise
        return FamilyResult(outcome, None, refit_error=f"{type(error).__name__}: {error}",
                            rows=rows)
    return FamilyResult(outcome, test, rows=rows, fit_rows=fit_rows)


def _best(study) -> float | None:
    try:
        return study.best_value
    except ValueError:
        return None


def _summary(result: FamilyResult, metric: Metric) -> str:
    if result.test is None:
        return result.note
    return (f"test {metric.name} {result.test.scores[metric.name]:.4f}, "
            f"fit {result.test.fit_seconds:.2f}s" + (f"; {result.note}" if result.note else ""))


def predictions_table(dataset: Dataset, results: list[FamilyResult]) -> pd.DataFrame:
    """Each test row's true target and every family's prediction."""
    table = pd.DataFrame({"row": np.arange(dataset.info.n_test), "y_true": dataset.test.y})
    for result in results:
        if result.test is not None:
            table[result.outcome.family.name] = result.test.predictions
    return table


def disagreement_examples(dataset: Dataset, predictions: pd.DataFrame,
                          pairs: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """The test images, or texts, the first compared pair disagrees on, for the report
    to show (texts as the table's text columns, a newline between them)."""
    text_columns = list(dataset.info.text_columns)
    pictures = kind_of(dataset.info).shown_as_pictures
    if not pairs or (not pictures and not text_columns):
        return {}
    rows = disagreements(predictions, *pairs[0])["row"].to_numpy()
    if pictures:
        return {"rows": rows, "X": dataset.test.X[rows]}
    cells = dataset.test.X.iloc[rows][text_columns].astype(object).fillna("")
    texts = ["\n".join(str(v) for v in row if v) for row in cells.itertuples(index=False)]
    # stored as one fixed-width array: each text cut to what the report shows
    shown = [text if len(text) <= SHOWN_TEXT_CHARS else text[:SHOWN_TEXT_CHARS] + "…"
             for text in texts]
    return {"rows": rows, "texts": np.array(shown, dtype=str)}


def run_summary(task: Task, info: DatasetInfo, metric: Metric, report_metrics: list[str],
                pairs: list[tuple[str, str]], started: float, command: str, storage: str,
                jax_platform: str, families: list[ModelFamily], plan: TimePlan,
                budget_notes: list[str], stage_seconds: dict[str, float]) -> RunSummary:
    """run.json: what ran, on which data, how, and what a reader needs to reproduce it."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return RunSummary(
        task=task.name, task_file=str(task.path), task_sha256=task.digest(),
        command=redact(command), seed=task.seed, storage=storage,
        metric=metric.name, metric_direction=metric.direction,
        report_metrics=report_metrics, cv_folds=task.cv_folds,
        sampler=task.sampler, pruner=task.pruner, compared=pairs,
        dataset=DataSummary.of(info, task.dataset_options.get("target")),
        jax_devices=(describe_devices(jax_platform)
                     if any(f.runs_on_device for f in families) else "not used"),
        started=datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        wall_s=round(time.time() - started, 2),
        python=platform.python_version(), platform=platform.platform(),
        cpus=os.cpu_count(), versions=versions, time_limit=plan.limit,
        budget_notes=budget_notes, stage_seconds=stage_seconds)
