"""A family's study: opening it, counting its trials against a budget, and taking over the
trials a dead process left running."""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

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


TOKEN = secrets.token_hex(6)
"""Drawn once per process: two processes never share a `worker_id`, even on machines of
one host name (containers) or after a process id is reused."""


def worker_id() -> str:
    """This process, as recorded on the trials it runs: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{TOKEN}"


def process_identity() -> str:
    """How a later run on the same machine tells whether this process still runs:
    ``space|pid|start``, where `space` names the process-id namespace (the kernel's boot
    id and the namespace's inode: containers of one host name differ in it) and `start`
    is the process's start time in clock ticks since boot (a reused pid differs in it).
    Empty where the system has no /proc (liveness then goes by heartbeat only)."""
    space, start = _pid_space(), _started(os.getpid())
    return f"{space}|{os.getpid()}|{start}" if space and start else ""


def _pid_space() -> str:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""


def _started(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def fail_interrupted_trials(study: optuna.Study, stale_seconds: float = STALE_SECONDS
                            ) -> list[FrozenTrial]:
    """Mark failed the RUNNING trials whose process is gone (killed, or its machine
    died), and enqueue their parameters to be tried again.

    A trial run in this machine's process-id namespace is gone when no process with its
    pid and start time exists (`process_identity`); one run elsewhere, when it has not
    sent a heartbeat for `stale_seconds`.
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
    space, _, process = str(trial.user_attrs.get("process", "")).partition("|")
    pid, _, started = process.partition("|")
    if space and space == _pid_space() and pid.isdigit():  # this machine's namespace
        return _started(int(pid)) != started  # gone, or its pid now another process's
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return time.time() - float(trial.user_attrs.get("heartbeat", start)) > stale_seconds
