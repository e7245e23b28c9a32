"""One run of a task, top to bottom: task -> dataset -> families -> searches -> results ->
report. `run_task` is the whole flow; each step below it is one function."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from automl.datasets import Dataset, DatasetInfo, prepare_dataset
from automl.devices import describe_devices, resolve_device
from automl.errors import AutomlError
from automl.evaluate import fit_and_test
from automl.leaderboard import FamilyResult, build_leaderboard, trials_table
from automl.metrics import Metric
from automl.models import ModelFamily
from automl.plugins import Registry
from automl.progress import Progress
from automl.report_html import write_html_report
from automl.search import (
    SearchOutcome,
    SearchSettings,
    check_sampler_supports,
    finished_trials,
    open_study,
    search_family,
    seconds_spent,
)
from automl.storage import describe, open_storage
from automl.task import DEFAULT_METRICS, Task, check_plugin_names, choose_loader, loader_options

VERSIONED_PACKAGES = ("automl", "optuna", "scikit-learn", "numpy", "pandas", "pluggy", "jax",
                      "flax", "optax")


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced; the report is written from this alone."""

    task: Task
    info: DatasetInfo
    metric: Metric
    report_metrics: list[str]
    results: list[FamilyResult]
    leaderboard: pd.DataFrame
    trials: pd.DataFrame
    environment: dict
    output_dir: Path


def run_task(task: Task, registry: Registry, *, storage_url: str | None = None,
             device: str | None = None, progress: Progress | None = None,
             command: str = "") -> RunResult:
    """Search every family the task selects and write the report to its output folder.

    `storage_url` and `device` override the task file's storage and device."""
    progress = progress or Progress()
    started = time.time()
    check_plugin_names(task, registry)
    dataset = load_dataset(task, registry)
    info = dataset.info
    progress.message(f"dataset {info.name}: {info.n_train} train / {info.n_test} test "
                     f"samples, {info.input_kind} {info.input_shape}, {info.task_type}"
                     + (f", {info.n_classes} classes" if info.n_classes else ""))
    metric, report_metrics = choose_metrics(task, registry, info)
    families = choose_families(task, registry, info)
    platform = choose_platform(task, device, families)
    check_cv_folds(task, dataset)
    output_dir = prepare_output_dir(task.output_dir)
    storage_url = storage_url or task.storage
    settings = SearchSettings(task.name, task.seed, task.sampler, task.pruner, task.cv_folds,
                              metric, fingerprint(dataset), platform, task.trial_timeout)
    check_sampler_supports(settings, families)
    storage = open_storage(storage_url, output_dir)
    progress.message(f"searching {len(families)} families for the best {metric.name} "
                     f"on {platform}; studies in {describe(storage_url, output_dir)}")

    results = search_all(task, families, dataset, settings, storage, report_metrics,
                         registry, progress)
    reused = sum(result.outcome.reused for result in results)
    if reused:
        progress.message(f"reused {reused} trials finished by earlier runs")
    result = RunResult(
        task=task, info=info, metric=metric, report_metrics=report_metrics,
        results=results,
        leaderboard=build_leaderboard(results, metric, report_metrics),
        trials=trials_table(results),
        environment=environment(task, command, started, describe(storage_url, output_dir),
                                platform, families),
        output_dir=output_dir)
    write_outputs(result)
    return result


def load_dataset(task: Task, registry: Registry) -> Dataset:
    loader = choose_loader(task, registry)
    raw = loader.load(loader_options(task, loader))
    return prepare_dataset(raw, name=task.dataset_loader or Path(raw.source).name,
                           task_type=task.task_type, test_size=task.test_size,
                           seed=task.seed)


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
    """The families to search: included (default all) minus excluded, that accept the data."""
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
    return chosen


def choose_platform(task: Task, override: str | None, families: list[ModelFamily]) -> str:
    """The JAX platform for deep families. JAX is asked only when a deep family runs or a
    platform is named, so classical-only runs do not import it."""
    name = override or task.device
    if name == "auto" and all(family.kind == "classical" for family in families):
        return "cpu"
    try:
        return resolve_device(name)
    except AutomlError as error:
        if override:
            error.key = "--device"
            raise
        raise task.error("device", error.problem, expected=error.expected,
                         hint=error.hint) from None


def check_cv_folds(task: Task, dataset: Dataset) -> None:
    if dataset.info.task_type == "classification":
        rarest = int(min(pd.Series(dataset.train.y).value_counts()))
        if task.cv_folds > rarest:
            raise task.error("search.cv_folds", "more CV folds than training samples of the "
                             "rarest class", expected=f"at most {rarest} folds",
                             found=task.cv_folds)
    elif task.cv_folds > dataset.info.n_train:
        raise task.error("search.cv_folds", "more CV folds than training samples",
                         expected=f"at most {dataset.info.n_train}", found=task.cv_folds)


def prepare_output_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise AutomlError(f"cannot write to the output folder ({error.strerror})",
                          where=path, key="output.dir") from None
    return path


def fingerprint(dataset: Dataset) -> str:
    """Digest of the training data, so changed data starts new studies."""
    digest = hashlib.sha256()
    for array in (dataset.train.X, dataset.train.y):
        digest.update(array.tobytes())
    return digest.hexdigest()


def search_all(task: Task, families: list[ModelFamily], dataset: Dataset,
               settings: SearchSettings, storage, report_metrics: list[str],
               registry: Registry, progress: Progress) -> list[FamilyResult]:
    """Search each family in turn, then refit its best parameters and score them on test.

    Time budgets count the trials of earlier runs too, so rerunning a finished task
    reuses its trials instead of searching again.
    """
    studies = {family.name: open_study(storage, settings, family.name) for family in families}
    spent = {name: seconds_spent(finished_trials(study)) for name, study in studies.items()}
    metrics = {name: registry.metrics[name].item for name in report_metrics}
    weights = time_weights(task, families)
    results = []
    for index, family in enumerate(families):
        study, budget = studies[family.name], task.budget_for(family.name)
        seconds = None if budget.timeout is None else budget.timeout - spent[family.name]
        if task.total_timeout is not None:
            left = task.total_timeout - sum(spent.values())
            share = left * weights[index] / sum(weights[index:])
            seconds = share if seconds is None else min(seconds, share)
        seconds = None if seconds is None else max(0.0, seconds)
        previous = finished_trials(study)
        progress.family_started(f"{index + 1}/{len(families)}", family.name,
                                budget.n_trials, previous, _best(study), seconds)
        search_family(study, family, dataset.info, dataset.train, settings,
                      n_trials=budget.n_trials, seconds=seconds,
                      on_trial=lambda trial, study=study: progress.trial_finished(
                          trial, _best(study)))
        trials = finished_trials(study)
        spent[family.name] = seconds_spent(trials)
        outcome = SearchOutcome(family, study.study_name, trials, len(previous),
                                settings.metric.direction)
        result = refit(outcome, dataset, metrics, task.seed, settings.device)
        results.append(result)
        progress.family_finished(_summary(result, settings.metric))
    return results


def time_weights(task: Task, families: list[ModelFamily]) -> list[float]:
    """How `total_timeout` is shared: in proportion to each family's own timeout (a
    family without one weighs as much as the average family that has one)."""
    timeouts = [task.budget_for(family.name).timeout for family in families]
    known = [t for t in timeouts if t is not None]
    default = sum(known) / len(known) if known else 1.0
    return [t if t is not None else default for t in timeouts]


def refit(outcome: SearchOutcome, dataset: Dataset, metrics: dict[str, Metric],
          seed: int, device: str) -> FamilyResult:
    best = outcome.best_trial
    if best is None:
        return FamilyResult(outcome, None)
    try:
        test = fit_and_test(outcome.family, best.params, dataset, metrics, seed, device)
    except Exception as error:  # report it on the family's row; other families go on
        return FamilyResult(outcome, None, refit_error=f"{type(error).__name__}: {error}")
    return FamilyResult(outcome, test)


def _best(study) -> float | None:
    try:
        return study.best_value
    except ValueError:
        return None


def _summary(result: FamilyResult, metric: Metric) -> str:
    if result.test is None:
        return result.note
    return (f"test {metric.name} {result.test.scores[metric.name]:.4f}, "
            f"fit {result.test.fit_seconds:.2f}s")


def environment(task: Task, command: str, started: float, storage: str, jax_platform: str,
                families: list[ModelFamily]) -> dict:
    """What a reader needs to reproduce the run."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "task": task.name, "task_file": str(task.path), "task_sha256": task.digest(),
        "command": command, "seed": task.seed, "storage": storage,
        "jax_devices": (describe_devices(jax_platform)
                        if any(f.kind == "deep" for f in families) else "not used"),
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(time.time() - started, 2),
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "versions": versions,
    }


def write_outputs(result: RunResult) -> None:
    """leaderboard.csv, trials.csv, run.json, the task file as run, and index.html."""
    out = result.output_dir
    result.leaderboard.to_csv(out / "leaderboard.csv", index=False)
    result.trials.to_csv(out / "trials.csv", index=False)
    (out / "task.toml").write_text(result.task.source.text, encoding="utf-8")
    (out / "run.json").write_text(json.dumps(result.environment, indent=2) + "\n",
                                  encoding="utf-8")
    write_html_report(result, out / "index.html")
