"""Scaling: trials per minute with 1 and 2 local workers on one study, as ``--jobs N``
runs them (search-only processes, each with its share of the cores for BLAS/OpenMP).
Both run the same trials: the whole grid of five classical families on digits (36
trials; a sampler would draw different parameters in each worker, and trial costs vary
tenfold with them). The rate counts from the first trial's start to the last one's end:
each worker's start-up is a fixed cost, not what scales."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.table import Row

SECTION = "5. Scaling with local workers (classical families on digits)"


def run(settings) -> list[Row]:
    import optuna

    from automl.cli import worker_environment
    rows, rates = [], {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as temporary:
            folder = Path(temporary)
            task = folder / "task.toml"
            task.write_text(
                f'name = "scaling"\nseed = 0\n[dataset]\nname = "digits"\n'
                f'[search]\nsampler = "grid"\nn_trials = 100\n'  # every grid point
                f'[families]\ninclude = {json.dumps(settings.scaling_families)}\n'
                f'[plugins]\nblock = ["flax"]\n[output]\ndir = "{folder / "out"}"\n')
            environment = {**worker_environment(jobs), **settings.worker_overrides}
            command = [sys.executable, "-m", "automl", "run", str(task), "--search-only",
                       "--quiet"]
            start = time.perf_counter()
            workers = [subprocess.Popen(command, env=environment,
                                        stdout=subprocess.DEVNULL) for _ in range(jobs)]
            if any(worker.wait() for worker in workers):
                raise RuntimeError(f"a worker failed with --jobs {jobs}")
            minutes = (time.perf_counter() - start) / 60
            storage = optuna.storages.JournalStorage(
                optuna.storages.journal.JournalFileBackend(str(folder / "out/optuna.journal")))
            trials = [trial for summary in optuna.get_all_study_summaries(storage)
                      for trial in optuna.load_study(study_name=summary.study_name,
                                                     storage=storage).trials
                      if trial.datetime_complete is not None]
            searching = (max(t.datetime_complete for t in trials)
                         - min(t.datetime_start for t in trials)).total_seconds() / 60
            rates[jobs] = len(trials) / searching
            rows.append(Row(SECTION, f"{jobs} worker{'s' if jobs > 1 else ''}", "engine",
                            rates[jobs], "trials/min",
                            f"{len(trials)} trials in {searching * 60:.1f} s of searching "
                            f"({minutes * 60:.0f} s with start-up)"))
    rows.append(Row(SECTION, "2 workers / 1 worker", "engine", rates[2] / rates[1], "x",
                    "at most 2 on 2 cores"))
    return rows
