"""kill -9 in the middle of a run, then the same command again: finished trials are
reused, the trial that was running is marked failed and retried, nothing is counted
twice, and the result matches an uninterrupted run within noise."""

import os
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
from conftest import REPO

from automl.search.storage import open_storage

TASK = """
name = "resume"
seed = 3
[dataset]
name = "digits"
[families]
include = ["rbf_svm"]
[search]
n_trials = 10
cv_folds = 5
[report]
seeds = 2
learning_curve = []
"""


def write_task(folder):
    task = folder / "task.toml"
    task.write_text(TASK + f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
    return task


def trials_of(out):
    """The trials of the run's one study (none while the journal holds no study yet: the
    run opens its storage a moment before it creates the study)."""
    storage = open_storage(None, out)
    summaries = optuna.get_all_study_summaries(storage)
    if not summaries:
        return []
    (summary,) = summaries
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def run(task):
    return subprocess.run([sys.executable, "-m", "automl", str(task)], capture_output=True,
                          text=True, cwd=REPO, timeout=600)


def test_a_killed_run_resumes_without_losing_or_double_counting_trials(tmp_path):
    killed = tmp_path / "killed"
    killed.mkdir()
    task = write_task(killed)
    process = subprocess.Popen([sys.executable, "-m", "automl", str(task)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    journal = killed / "out" / "optuna.journal"
    while time.time() < deadline:
        time.sleep(0.2)
        if journal.exists():
            states = [t.state for t in trials_of(killed / "out")]
            if states.count(optuna.trial.TrialState.COMPLETE) + states.count(
                    optuna.trial.TrialState.PRUNED) >= 3 and \
                    optuna.trial.TrialState.RUNNING in states:
                break
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = trials_of(killed / "out")
    finished_before = [t for t in before if t.state.is_finished()]
    running = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert len(running) == 1 and 3 <= len(finished_before) < 10

    resumed = run(task)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 trials were left running by a process that stopped" in resumed.stderr
    assert f"reused {len(finished_before)} trials" in resumed.stderr
    after = trials_of(killed / "out")
    assert not [t for t in after if t.state == optuna.trial.TrialState.RUNNING]
    lost = after[running[0].number]
    assert lost.state == optuna.trial.TrialState.FAIL
    assert lost.user_attrs["error"].startswith("interrupted: the process that ran it")
    counted = [t for t in after if t.state.is_finished() and not t.user_attrs.get(
        "interrupted")]
    assert len(counted) == 10  # the budget, with the interrupted trial not counted
    retried = after[running[0].number + 1]  # its parameters were queued first
    assert all(retried.params[k] == v for k, v in lost.params.items())
    for old in finished_before:  # finished trials kept as they were, not rerun
        assert after[old.number].params == old.params and after[old.number].value == old.value

    whole = tmp_path / "whole"
    whole.mkdir()
    uninterrupted = run(write_task(whole))
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    board_killed = pd.read_csv(killed / "out" / "leaderboard.csv").iloc[0]
    board_whole = pd.read_csv(whole / "out" / "leaderboard.csv").iloc[0]
    assert board_killed["trials_failed"] == 1 and board_whole["trials_failed"] == 0
    assert abs(board_killed["test_accuracy"] - board_whole["test_accuracy"]) <= 0.02
    assert board_killed["test_accuracy"] > 0.95
