"""A hard time limit per trial: a fold still fitting at `trial_timeout` is stopped with its
worker process, even inside one long call into compiled code, and the search goes on."""

import io
import time

import numpy as np
import pytest
from optuna.trial import TrialState
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier

from automl import ModelFamily, hookimpl
from automl.api.results import SearchOutcome
from automl.data.datasets import prepare_dataset
from automl.engine.plugins import build_registry
from automl.engine.progress import STOPPED, Progress, counted_as
from automl.engine.run import run_task
from automl.engine.task import load_task
from automl.fitting.stoppable import FoldWorker, TrialStopped
from automl.search import SearchSettings, finished_trials, open_storage, open_study, search_family


class Sleeper(ClassifierMixin, BaseEstimator):
    """Sleeps in `fit` (time.sleep: one call into C that no check between folds can cut
    short), then predicts the commonest class."""

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds

    def fit(self, X, y):
        time.sleep(self.seconds)
        self.model_ = DummyClassifier().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


SLEEPER = ModelFamily(
    "sleeper", "classical", frozenset({"classification"}), frozenset({"tabular"}),
    lambda trial, info: {"seconds": trial.suggest_float("seconds", 0.0, 60.0)},
    lambda params, info, seed, device: Sleeper(**params),
    starting_points=lambda info: [{"seconds": 60.0}, {"seconds": 0.0}])


@pytest.fixture(scope="module")
def wine(registry):
    raw = registry.datasets["wine"].item.load({})
    return prepare_dataset(raw, name="wine", task_type=None, test_size=0.25, seed=0)


def test_a_trial_sleeping_past_its_limit_is_stopped_and_the_next_trial_runs(
        registry, wine, tmp_path):
    settings = SearchSettings("t", 0, "random", "none", 2, registry.metrics["accuracy"].item,
                              "data", trial_timeout=2.0)
    study = open_study(open_storage(None, tmp_path), settings, SLEEPER.name)
    started = time.monotonic()
    search_family(study, SLEEPER, wine.info, wine.train, settings, n_trials=2, seconds=None)
    seconds = time.monotonic() - started
    stopped, finished = finished_trials(study)
    assert stopped.params["seconds"] == 60.0 and stopped.state == TrialState.FAIL
    assert stopped.user_attrs["error"].startswith(
        "TrialStopped: stopped at trial_timeout (2 s): CV fold 1 was still fitting")
    assert finished.params["seconds"] == 0.0 and finished.state == TrialState.COMPLETE
    assert 0.3 < finished.value < 0.5  # the commonest class's share
    assert seconds < 30  # not the 60 s the first trial asked to sleep
    # counted as stopped by time, not as failed (the leaderboard and the terminal)
    outcome = SearchOutcome(SLEEPER, "t", [stopped, finished], 0, "maximize")
    assert (outcome.stopped, outcome.count(TrialState.FAIL)) == (1, 0)
    assert counted_as(stopped) == STOPPED and counted_as(finished) == TrialState.COMPLETE


def test_folds_in_a_worker_score_as_in_the_search_process(registry, wine):
    """The worker gives the scores and out-of-fold outputs the search process would (the
    task's folds, the same seed)."""
    from automl.fitting.evaluate import score_fold, task_folds
    knn = registry.models["knn"].item
    metric = registry.metrics["accuracy"].item
    params = {"n_neighbors": 7, "weights": "distance"}
    worker = FoldWorker()
    try:
        worker.prepare(knn, wine.info, wine.train, metric, folds=3, seed=0, device="cpu")
        remote = [worker.score(params, fold, 60.0) for fold in range(3)]
    finally:
        worker.close()
    splits = task_folds(wine.info, wine.train, 3, 0)
    local = [score_fold(knn, params, wine.info, wine.train, metric, splits[fold], 0, "cpu",
                        fold) for fold in range(3)]
    assert [score for score, *_ in remote] == [score for score, *_ in local]
    assert np.mean([score for score, *_ in remote]) > 0.6
    assert all(0 < fit < 5 and 0 < scoring < 5 for *_, fit, scoring in remote)  # timed
    for (_, theirs, *_), (_, ours, *_), (_, rows) in zip(remote, local, splits, strict=True):
        assert theirs.shape == (len(rows), wine.info.n_classes)
        np.testing.assert_array_equal(theirs, ours)


def test_an_error_in_the_worker_fails_the_trial_with_its_message(registry, wine):
    broken = ModelFamily(
        "broken", "classical", frozenset({"classification"}), frozenset({"tabular"}),
        lambda trial, info: {}, lambda params, info, seed, device: Sleeper(seconds=-1.0))
    worker = FoldWorker()
    try:
        worker.prepare(broken, wine.info, wine.train, registry.metrics["accuracy"].item,
                       folds=2, seed=0, device="cpu")
        with pytest.raises(ValueError, match="sleep length must be non-negative"):
            worker.score({}, 0, 60.0)
    finally:
        worker.close()


def test_a_wait_that_raises_ends_the_worker_so_no_answer_is_read_twice(registry, wine):
    """A wait that fails after the request is sent (here a timeout too large for the
    operating system) leaves an answer unread; the worker is ended, so the next fold is
    answered by a fresh worker, not by the stale answer. Before, each such trial left one
    answer in the socket until both processes blocked writing to each other."""
    knn = registry.models["knn"].item
    metric = registry.metrics["accuracy"].item
    worker = FoldWorker()
    try:
        worker.prepare(knn, wine.info, wine.train, metric, folds=3, seed=0, device="cpu")
        first = worker.pid
        with pytest.raises(OverflowError):
            worker.score({"n_neighbors": 1, "weights": "uniform"}, 0, 1e12)
        answers = [worker.score({"n_neighbors": 15, "weights": "uniform"}, fold, 60.0)
                   for fold in (1, 2)]
        assert worker.pid not in (None, first)
    finally:
        worker.close()
    expected = FoldWorker()
    try:
        expected.prepare(knn, wine.info, wine.train, metric, folds=3, seed=0, device="cpu")
        assert [expected.score({"n_neighbors": 15, "weights": "uniform"}, fold, 60.0)[0]
                for fold in (1, 2)] == [score for score, *_ in answers]
    finally:
        expected.close()
    assert [len(outputs) for _, outputs, *_ in answers] == [
        len(rows) for _, rows in task_folds_of(wine, 3)[1:]]


def test_after_a_kill_a_spare_worker_waits_and_the_next_kill_swaps_it_in(registry, wine):
    """A killed worker's replacement costs an interpreter's start; after the first kill a
    spare is kept started, so the second kill swaps it in (its process answers the next
    fold, scored as any worker scores it) and starts another; closing ends both."""
    worker = FoldWorker()
    try:
        worker.prepare(SLEEPER, wine.info, wine.train, registry.metrics["accuracy"].item,
                       folds=2, seed=0, device="cpu")
        with pytest.raises(TrialStopped):
            worker.score({"seconds": 60.0}, 0, 0.5)
        spare = worker._spare[0]
        assert spare.poll() is None and spare.pid != worker.pid
        with pytest.raises(TrialStopped):
            worker.score({"seconds": 60.0}, 0, 0.5)
        assert worker.pid == spare.pid and worker._spare[0].pid != spare.pid
        score, *_ = worker.score({"seconds": 0.0}, 1, 60.0)
        assert 0.3 < score < 0.5  # the commonest class's share
        processes = [worker._process, worker._spare[0]]
    finally:
        worker.close()
    assert all(process.poll() is not None for process in processes)


def task_folds_of(dataset, folds):
    from automl.data.folds import task_folds
    return task_folds(dataset.info, dataset.train, folds, 0)


def training_rows(dataset):
    return len(dataset.train.y)


def unpicklable():
    return lambda: None  # standard pickle, which sends a call's value back, refuses it


def test_a_call_uses_the_data_the_worker_holds_and_is_stopped_past_its_limit(wine):
    from automl.fitting.stoppable import NotSendable, TrialStopped, run_stoppable
    worker = FoldWorker()
    try:
        worker.hold("dataset", wine)
        assert worker.call(training_rows, (wine,), 60.0, "counting") == len(wine.train.y)
        started = time.monotonic()
        with pytest.raises(TrialStopped, match="^sleeping ran past 1 s, and its process"):
            worker.call(time.sleep, (60,), 1.0, "sleeping")
        assert time.monotonic() - started < 30
        # the fresh worker holds the data again
        assert worker.call(training_rows, (wine,), 60.0, "counting") == len(wine.train.y)
        with pytest.raises(NotSendable):
            worker.call(unpicklable, (), 60.0, "making a lambda")
    finally:
        worker.close()
    knn = ModelFamily("knn_like", "classical", frozenset({"classification"}),
                      frozenset({"tabular"}), lambda trial, info: {},
                      lambda params, info, seed, device: None)
    assert callable(run_stoppable(knn, unpicklable, (), 60.0, "making a lambda"))


class Slow(BaseEstimator, ClassifierMixin):
    """Sleeps 0.3 s in every fit: a family much slower than its budget allows to finish."""

    def fit(self, X, y):
        time.sleep(0.3)
        self.model_ = DummyClassifier().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


class SlowPlugin:
    @staticmethod
    @hookimpl
    def automl_register_models(register):
        register(ModelFamily(
            "slow", "classical", frozenset({"classification"}), frozenset({"tabular"}),
            lambda trial, info: {"unused": trial.suggest_float("unused", 0, 1)},
            lambda params, info, seed, device: Slow()))


TIME_LIMITED = """
name = "limited"
seed = 0
[dataset]
name = "wine"
[families]
include = ["slow", "knn", "naive_bayes", "logistic_regression"]
[search]
n_trials = 200
time_limit = 30
[families.knn]
n_trials = 4
[families.naive_bayes]
n_trials = 4
[families.logistic_regression]
n_trials = 4
[report]
seeds = 2
curve_seeds = 20
"""


def test_the_time_limit_holds_with_a_slow_family_and_every_family_gets_its_share(tmp_path):
    """A family that would use every second it is given shares a 30 s limit with three
    fast ones: the command ends within 1.2x of the limit, every family is scored, the slow
    one is stopped by time (and the report says so), and the learning curves its slow
    fits would make too long are cut short, with a note."""
    task_file = tmp_path / "task.toml"
    task_file.write_text(TIME_LIMITED + f'[output]\ndir = "{(tmp_path / "out").as_posix()}"\n')
    registry = build_registry({"slow_plugin": SlowPlugin})
    stream = io.StringIO()
    started = time.monotonic()
    result = run_task(load_task(task_file), registry, progress=Progress(stream))
    seconds = time.monotonic() - started
    log = stream.getvalue()
    assert seconds < 1.2 * 30, log
    assert "time limit 30 s: search by 20 s, refits by 21 s, analyses by 28 s, report by 30 s" \
        in log
    board = result.leaderboard.set_index("family").drop(index="ensemble", errors="ignore")
    assert board["test_accuracy"].notna().all()  # every family has a refitted model
    assert board.loc["slow", "stopped_by"] == "time" and board.loc["slow", "trials_complete"] > 1
    assert (board.drop(index="slow")["stopped_by"] == "n_trials").all()
    assert "[run " in log and " s left]" in log  # progress against the limit
    # each analysis has its cost's share of the stage: the curves end at theirs
    assert "note: the learning curves cut short at its share of the time limit's analyses " \
        "stage" in log
    summary = result.record.run
    assert summary.time_limit == 30 and summary.budget_notes
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Stopped by time rather than by n_trials: slow." in html
    assert "The command ran under a time limit of 30 s" in html


def test_a_rerun_whose_budget_is_spent_still_refits_every_family(tmp_path):
    """A second run reuses every trial, so each family has no seconds of its `timeout`
    left; its refit (on wine: milliseconds) must still run, bounded by the trial limit and
    `MIN_STOP_SECONDS`, not by the spent budget (it was once stopped at 0 s)."""
    task_file = tmp_path / "task.toml"
    task_file.write_text(f"""
name = "rerun"
seed = 0
[dataset]
name = "wine"
[families]
include = ["knn", "random_forest"]
[search]
n_trials = 3
timeout = 1
trial_timeout = 20
[report]
seeds = 0
learning_curve = []
[output]
dir = "{(tmp_path / "out").as_posix()}"
""")
    for _run in range(2):  # the second reuses every trial
        result = run_task(load_task(task_file), build_registry(),
                          progress=Progress(io.StringIO()))
    board = result.leaderboard.set_index("family").drop(index="ensemble", errors="ignore")
    finished = board[["trials_complete", "trials_pruned", "trials_stopped",
                      "trials_failed"]].sum(axis=1)
    assert (board["trials_reused"] == finished).all()  # nothing ran anew
    assert board["test_accuracy"].gt(0.8).all(), board["note"].tolist()
