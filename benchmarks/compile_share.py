"""Compile time and its share of a deep search's wall time.

The search is the CNN family's on digits as ``tasks/images.toml`` runs it: its budget
(30 trials or 150 s of trials, whichever ends first) and the CPU's default population
(a population's trials share one compiled program). It runs in a fresh process on a new
persistent compilation cache, then again on that cache, warm (a rerun of the task, or
another worker: programs load from disk). With populations of one (every trial a new
architecture) a 4-trial search spent 50-55% of its time compiling (results of
2026-11-21)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

from benchmarks.table import Row

SECTION = "2. Compile time in a deep search (CNN on digits)"


def search(n_trials: int | None) -> dict:
    """Run in a child process: the CNN family's search as the task sets it (`n_trials`
    overrides its trial budget), its wall and compile seconds."""
    import optuna
    from automl_plugins.deep.training import PROGRAMS

    from automl.plugins import build_registry
    from automl.run import choose_families, choose_metrics, fingerprint, load_dataset
    from automl.search import SearchSettings, population_size, search_family
    from automl.task import load_task
    task = load_task("tasks/images.toml")
    registry = build_registry()
    data = load_dataset(task, registry)
    metric, _ = choose_metrics(task, registry, data.info)
    family = next(f for f in choose_families(task, registry, data.info) if f.name == "cnn")
    settings = SearchSettings("benchmark", task.seed, task.sampler, task.pruner,
                              task.cv_folds, metric, fingerprint(data), "cpu",
                              task.trial_timeout, task.population)
    budget = task.budget_for("cnn")
    study = optuna.create_study(direction="maximize")
    start = time.perf_counter()
    search_family(study, family, data.info, data.train, settings,
                  n_trials=n_trials or budget.n_trials, seconds=budget.timeout)
    return {"wall": time.perf_counter() - start, "compile": PROGRAMS.compile_seconds,
            "programs": PROGRAMS.compiled, "trials": len(study.trials),
            "population": population_size(settings, family), "best": study.best_value}


def run(settings) -> list[Row]:
    rows = []
    searched = "the default search:" if settings.compile_trials is None else "a search of"
    with tempfile.TemporaryDirectory() as cache:
        # the same search twice: the second finds the first's programs (fewer trials
        # would draw other architectures: the sampler's settings depend on the budget)
        for state in ("cold", "warm"):
            output = subprocess.run(
                [sys.executable, "-c", "import json; from benchmarks.compile_share import "
                 f"search; print(json.dumps(search({settings.compile_trials})))"],
                capture_output=True, text=True, check=True,
                env={**settings.environment, "AUTOML_JAX_CACHE": cache}).stdout
            result = json.loads(output.strip().splitlines()[-1])
            what = (f"{searched} {result['trials']} trials, populations of "
                    f"{result['population']}, {state} compilation cache")
            rows += [
                Row(SECTION, what, "engine", result["wall"], "s",
                    f"search wall time; best validation accuracy {result['best']:.4f}"),
                Row(SECTION, what, "engine", result["compile"], "s",
                    f"compiling {result['programs']} programs"),
                Row(SECTION, what, "engine", 100 * result["compile"] / result["wall"], "%",
                    "compile share of the wall time (target < 10%)"),
            ]
    return rows
