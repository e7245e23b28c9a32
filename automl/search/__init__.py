"""The search: one Optuna study per model family, driven by ask-and-tell.

One file per concern:

- `settings`: what a task's searches share, and the study names they make;
- `storage`: where studies live (a journal file, SQLite, PostgreSQL);
- `studies`: opening a study and counting its trials against a budget;
- `samplers`: the task's sampler and pruner for a family, seeded per trial;
- `populations`: how trials are grouped and when a group trains together;
- `loop`: the ask-run-tell loop that runs a family's trials;
- `worker`: the process that fits a cross-validated family's folds under `trial_timeout`,
  ended when a fit runs past it;
- `internals`: every use of Optuna's private API (ending a dead process's trial, the grid
  sampler's grid), kept in one place so an Optuna upgrade is checked in one file.
"""

from automl.search.loop import describe_failure, search_family
from automl.search.populations import POPULATION, population_size, trains_together
from automl.search.samplers import make_pruner, make_sampler
from automl.search.settings import SearchSettings, check_sampler_supports
from automl.search.storage import describe, open_storage, redact
from automl.search.studies import (
    STALE_SECONDS,
    budget_used,
    fail_interrupted_trials,
    finished_trials,
    interrupted,
    open_study,
    seconds_spent,
    worker_id,
)

__all__ = ["POPULATION", "STALE_SECONDS", "SearchSettings", "budget_used",
           "check_sampler_supports", "describe", "describe_failure", "fail_interrupted_trials",
           "finished_trials", "interrupted", "make_pruner", "make_sampler", "open_storage",
           "open_study", "population_size", "redact", "search_family", "seconds_spent",
           "trains_together", "worker_id"]
