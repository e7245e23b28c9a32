"""Several worker processes on one study: a real PostgreSQL server (started by .ci/run,
URL in AUTOML_TEST_POSTGRES) and the default journal file with --jobs."""

import os
import subprocess
import sys
import uuid

import optuna
import pandas as pd
import pytest
from conftest import REPO, run_cli
from optuna.trial import TrialState

from automl.search.storage import open_storage

POSTGRES = os.environ.get("AUTOML_TEST_POSTGRES")
needs_postgres = pytest.mark.skipif(
    POSTGRES is None and not os.environ.get("CI"),
    reason="no PostgreSQL server: set AUTOML_TEST_POSTGRES (.ci/run starts one)")


def small_task(folder, name, n_trials=8):
    task = folder / "task.toml"
    task.write_text(f'name = "{name}"\n[dataset]\nname = "digits"\n[families]\n'
                    'include = ["linear_svm", "logistic_regression"]\n'
                    f"[search]\nn_trials = {n_trials}\ncv_folds = 3\n"
                    "[report]\nseeds = 2\nlearning_curve = []\n"
                    f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
    return task


def studies(storage, prefix=""):
    """Each family's trials, from the studies whose task name starts with `prefix`."""
    return {s.study_name.split(".")[1]: optuna.load_study(study_name=s.study_name,
                                                         storage=storage).get_trials()
            for s in optuna.get_all_study_summaries(storage)
            if s.study_name.startswith(prefix)}


def check_shared_trials(trials_by_family, n_trials, workers):
    for family, trials in trials_by_family.items():
        assert [t.number for t in trials] == list(range(len(trials)))  # none lost
        assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        # the budget, plus at most one trial per extra worker asked at the same moment
        assert n_trials <= len(trials) <= n_trials + workers - 1, (family, len(trials))
        # continuous search spaces: equal parameters would mean one trial run twice
        params = [tuple(sorted(t.params.items())) for t in trials]
        assert len(set(params)) == len(params), f"{family}: a trial was run twice"
    # every worker took a share (of one family or another: a worker that starts a second
    # later may find the first family's budget already spent)
    ran_by = {t.user_attrs["worker"] for trials in trials_by_family.values() for t in trials}
    assert len(ran_by) == workers, ran_by


@needs_postgres
def test_two_workers_share_postgresql_studies_and_a_third_process_reports(tmp_path):
    assert POSTGRES, "CI must provide AUTOML_TEST_POSTGRES"
    name = f"pg_{uuid.uuid4().hex[:8]}"  # studies of its own in the shared database
    task = small_task(tmp_path, name)
    command = [sys.executable, "-m", "automl", str(task), "--storage", POSTGRES,
               "--search-only"]
    workers = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    trials = studies(open_storage(POSTGRES, tmp_path), prefix=name)
    assert set(trials) == {"linear_svm", "logistic_regression"}
    check_shared_trials(trials, 8, workers=2)
    assert not (tmp_path / "out" / "leaderboard.csv").exists()  # workers only search

    report = run_cli(str(task), "--storage", POSTGRES)
    assert report.returncode == 0, report.stderr
    total = sum(len(t) for t in trials.values())
    assert f"reused {total} trials finished by earlier runs" in report.stderr
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("family")
    assert board.loc["logistic_regression", "test_accuracy"] > 0.93
    for written in ("run.json", "index.html", "leaderboard.csv"):  # no password anywhere
        assert "automl:automl@" not in (tmp_path / "out" / written).read_text()
    assert "automl:***@" in (tmp_path / "out" / "run.json").read_text()
    assert "automl:automl@" not in report.stdout + report.stderr


def test_jobs_runs_local_workers_on_the_journal_then_reports(tmp_path):
    task = small_task(tmp_path, "jobs", n_trials=16)
    result = run_cli(str(task), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "searching with 2 worker processes" in result.stderr
    trials = studies(open_storage(None, tmp_path / "out"))
    check_shared_trials(trials, 16, workers=2)
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("family")
    board = board.drop(index="ensemble", errors="ignore")  # the blend runs no trials
    assert set(board.index) == {"linear_svm", "logistic_regression"}
    assert (board["trials_reused"] == [len(trials[f]) for f in board.index]).all()


@needs_postgres
def test_a_password_in_the_task_file_reaches_no_file_page_or_terminal_line(tmp_path):
    """The storage URL, password and all, written in the task file as users do: the copy
    of the task, run.json, the report and the terminal say ``***``."""
    assert POSTGRES, "CI must provide AUTOML_TEST_POSTGRES"
    user_and_password = POSTGRES.split("://")[1].split("@")[0]
    assert ":" in user_and_password, "the test server's URL must carry a password"
    task = small_task(tmp_path, f"secret_{uuid.uuid4().hex[:8]}", n_trials=2)
    task.write_text(task.read_text().replace("[search]\n", f'[search]\nstorage = "{POSTGRES}"\n'))
    result = run_cli(str(task))
    assert result.returncode == 0, result.stderr
    password = user_and_password.split(":", 1)[1]
    out = tmp_path / "out"
    written = [path for path in out.rglob("*") if path.is_file() and path.suffix in (
        ".toml", ".json", ".html", ".csv", ".txt")]
    assert {"task.toml", "run.json", "index.html"} <= {path.name for path in written}
    for path in written:
        assert f":{password}@" not in path.read_text(errors="replace"), path
    assert ":***@" in (out / "task.toml").read_text()
    assert f":{password}@" not in result.stdout + result.stderr
