"""Compile time and its share of a deep search's wall time.

The search is the CNN family's on digits as ``tasks/images.toml`` runs it: its budget
(30 trials or 150 s of trials, whichever ends first) and the CPU's default population
(a population's trials share one compiled program). It runs in a fresh process on a new
persistent compilation cache (cold). Then, with every in-memory cache cleared, the same
process builds the search's programs again: they load from that cache, as in a rerun of
the task or in another worker (warm). The warm search's wall time is the cold one's with
the warm programs' seconds in place of the cold ones: the same seed trains the same
trials. (Running the whole search again took 60-110 s and gave the same compile seconds
as loading the programs, within 0.3 s.) With populations of one (every trial a new
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
    overrides its trial budget), its wall and compile seconds, and the seconds its
    programs take to load from the persistent cache."""
    import jax
    import optuna
    from automl_plugins.deep.training import PROGRAMS

    built = []  # the arguments of every compilation the search did
    compile_program = PROGRAMS.get

    def recording(*call):
        program, seconds, reused = compile_program(*call)
        if not reused:
            built.append(call)
        return program, seconds, reused
    PROGRAMS.get = recording

    from automl.engine.plugins import build_registry
    from automl.engine.run import choose_families, choose_metrics, fingerprint, load_dataset
    from automl.engine.task import load_task
    from automl.search import SearchSettings, population_size, search_family
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
    wall, cold = time.perf_counter() - start, PROGRAMS.compile_seconds
    jax.clear_caches()
    PROGRAMS.entries.clear()
    for call in built:
        compile_program(*call)
    return {"wall": wall, "compile": cold, "warm": PROGRAMS.compile_seconds - cold,
            "programs": len(built), "trials": len(study.trials),
            "population": population_size(settings, family), "best": study.best_value}


def run(settings) -> list[Row]:
    rows = []
    searched = "the default search:" if settings.compile_trials is None else "a search of"
    with tempfile.TemporaryDirectory() as cache:
        output = subprocess.run(
            [sys.executable, "-c", "import json; from benchmarks.compile_share import "
             f"search; print(json.dumps(search({settings.compile_trials})))"],
            capture_output=True, text=True, check=True,
            env={**settings.environment, "AUTOML_JAX_CACHE": cache}).stdout
    result = json.loads(output.strip().splitlines()[-1])
    training = result["wall"] - result["compile"]
    for state, seconds, how in (("cold", result["compile"], "compiling"),
                                ("warm", result["warm"], "loading")):
        what = (f"{searched} {result['trials']} trials, populations of "
                f"{result['population']}, {state} compilation cache")
        wall = training + seconds
        rows += [
            Row(SECTION, what, "engine", wall, "s",
                ("search wall time" if state == "cold" else "the cold search's, with these "
                 "programs' seconds") + f"; best validation accuracy {result['best']:.4f}"),
            Row(SECTION, what, "engine", seconds, "s", f"{how} {result['programs']} programs"),
            Row(SECTION, what, "engine", 100 * seconds / wall, "%",
                "compile share of the wall time (target < 10%)"),
        ]
    return rows
