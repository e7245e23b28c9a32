"""A family's study: opening it, counting its trials against a budget, and taking over the
trials a dead process left running."""

from __future__ import annotations

import os
import socket
import time

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.search.internals import fail_trial_of_another_process
from automl.search.settings import SearchSettings

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
STALE_SECONDS = 600  # a trial on another host silent this long is taken for dead


CREATED_HERE: set[str] = set()
"""Names of the studies this process created: among workers that open a study at the same
moment, exactly one creates it (the storage refuses a second), and only that one queues
the family's starting points, so that no two workers run them both."""


def open_study(storage, settings: SearchSettings, family: str) -> optuna.Study:
    """The family's study in `storage`, created where it does not exist yet."""
    name = settings.study_name(family)
    try:
        study = optuna.create_study(storage=storage, study_name=name,
                                    direction=settings.metric.direction)
    except optuna.exceptions.DuplicatedStudyError:  # an earlier run or another worker's
        return optuna.load_study(study_name=name, storage=storage)
    CREATED_HERE.add(name)
    return study


def queues_starting_points(study: optuna.Study, settings: SearchSettings) -> bool:
    """Whether this process queues a family's starting points in `study`: it has no
    trials, and this process created it or is not one of several workers (a rerun of a
    study left empty)."""
    return (not study.get_trials(deepcopy=False)
            and (not settings.worker_salt or study.study_name in CREATED_HERE))


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.state in FINISHED]


def seconds_spent(trials: list[FrozenTrial]) -> float:
    """Total duration of the finished trials (not of interrupted ones, whose duration
    runs until a later run noticed them)."""
    return sum(t.duration.total_seconds() for t in trials
               if t.state in FINISHED and t.duration is not None and not interrupted(t))


def interrupted(trial: FrozenTrial) -> bool:
    """Whether a trial failed because the process running it stopped (see
    `fail_interrupted_trials`); such trials do not count against the budget."""
    return bool(trial.user_attrs.get("interrupted"))


def budget_used(study: optuna.Study) -> int:
    """Trials that count against `n_trials`: finished ones, less interrupted ones, plus
    those other workers are running now."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if (t.state in FINISHED and not interrupted(t)) or t.state == TrialState.RUNNING)


def worker_id() -> str:
    """This process, as recorded on the trials it runs: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_interrupted_trials(study: optuna.Study, stale_seconds: float = STALE_SECONDS
                            ) -> list[FrozenTrial]:
    """Mark failed the RUNNING trials whose process is gone (killed, or its machine
    died), and enqueue their parameters to be tried again.

    A trial run on this host is gone when its process no longer exists; one run on
    another host, when it has not sent a heartbeat for `stale_seconds`.
    """
    gone = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if _process_gone(t, stale_seconds)]
    for trial in gone:
        worker = trial.user_attrs.get("worker", "an earlier run")
        fail_trial_of_another_process(study, trial, {
            "interrupted": True,
            "error": f"interrupted: the process that ran it ({worker}) stopped before it "
                     "finished; its parameters were tried again"})
        study.enqueue_trial(dict(trial.params), skip_if_exists=False)
    return gone


def _process_gone(trial: FrozenTrial, stale_seconds: float) -> bool:
    host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, as another user's process
            return False
        return False
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return time.time() - float(trial.user_attrs.get("heartbeat", start)) > stale_seconds
