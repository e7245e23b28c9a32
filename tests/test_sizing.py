"""Families that know their cost: a declared cap or a trial's time limit puts a family's
search and refit on a stratified subsample, a family whose one fit outlasts its limit is
skipped, and the terminal, the leaderboard and the report say which, with the numbers."""

import io
import math
import re
import time

import numpy as np
import pandas as pd
import pytest
from automl_plugins.deep.architectures import MLP
from automl_plugins.deep.estimator import FlaxClassifier
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from automl import Cost, ModelFamily, hookimpl
from automl.api.metrics import in_batches
from automl.data.tables import FLOAT32_CELLS, TableEncoder, compact_numbers
from automl.engine.plugins import build_registry
from automl.engine.progress import Progress
from automl.engine.run import run_task
from automl.engine.task import load_task
from automl.fitting.memory import peak_mb, reset_peak
from automl.fitting.sizing import largest_rows


class QuadraticSleeper(ClassifierMixin, BaseEstimator):
    """A fit whose time grows with the square of its rows, as an RBF SVM's does: it sleeps
    0.02 s per (rows / 2,000)^2, then predicts the commonest class."""

    def fit(self, X, y):
        time.sleep(0.02 * (len(X) / 2000) ** 2)
        self.model_ = DummyClassifier().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


class SlowAtFullSize(QuadraticSleeper):
    """Declared linear, but a fit on over 30,000 rows (only the refit on every row of the
    table below has that many) sleeps 30 s: a cost no probe foresaw."""

    def fit(self, X, y):
        time.sleep(30 if len(X) > 30_000 else 0.02 * len(X) / 2000)
        self.model_ = DummyClassifier().fit(X, y)
        self.classes_ = self.model_.classes_
        return self


class StuckFit(QuadraticSleeper):
    """A fit that takes 60 s on any number of rows."""

    def fit(self, X, y):
        time.sleep(60)
        return super().fit(X, y)


class SlowEpochsAtFullSize(FlaxClassifier):
    """A real Flax MLP whose epochs take 1 s more each when it fits over 1,300 rows: only
    the refit on all 1,437 training images of digits has that many (a trial fits on its
    holdout's fitting share)."""

    def fit(self, X, y, validation_data=None, epoch_callback=None):
        slow = len(X) > 1300

        def after_epoch(epoch, estimator):
            if slow:
                time.sleep(1.0)
            return epoch_callback(epoch, estimator) if epoch_callback else False

        return super().fit(X, y, validation_data, after_epoch)


def family(name, estimator, cost):
    return ModelFamily(
        name, "classical", frozenset({"classification"}), frozenset({"tabular"}),
        lambda trial, info: {"unused": trial.suggest_float("unused", 0, 1)},
        lambda params, info, seed, device: estimator(), cost=cost)


class CostPlugin:
    @staticmethod
    @hookimpl
    def automl_register_models(register):
        register(family("quadratic", QuadraticSleeper, Cost(fit_rows=2.0)))
        register(family("stuck", StuckFit, Cost()))
        register(family("slow_at_full_size", SlowAtFullSize, Cost()))
        register(ModelFamily(
            "capped_logistic", "classical", frozenset({"classification"}),
            frozenset({"tabular"}), lambda trial, info: {"C": trial.suggest_float("C", 0.1, 10)},
            lambda params, info, seed, device: LogisticRegression(C=params["C"], max_iter=5000),
            cost=Cost(fit_rows=2.0, max_search_rows=150, max_fit_rows=200)))
        register(ModelFamily(
            "slow_epochs", "deep", frozenset({"classification"}), frozenset({"image"}),
            lambda trial, info: {"learning_rate": trial.suggest_float("learning_rate", 2e-3,
                                                                      5e-3)},
            lambda params, info, seed, device: SlowEpochsAtFullSize(
                MLP(depth=1, width=32), max_epochs=40, patience=40, random_state=seed,
                device=device, **params),
            evaluation="holdout"))


def run(tmp_path, text):
    task_file = tmp_path / "task.toml"
    task_file.write_text(text + f'[output]\ndir = "{(tmp_path / "out").as_posix()}"\n')
    stream = io.StringIO()
    result = run_task(load_task(task_file), build_registry({"cost_plugin": CostPlugin}),
                      progress=Progress(stream))
    html = (tmp_path / "out" / "index.html").read_text()
    return result, stream.getvalue(), html


def test_a_declared_cap_subsamples_the_search_and_refit_at_any_budget(tmp_path):
    """No time limit at all: the family's declared caps alone put its search on 150 of the
    275 training rows and its refit and learning curve on 200; the others use every row."""
    result, log, html = run(tmp_path, """
name = "capped"
seed = 0
[dataset]
name = "penguins"
target = "species"
[families]
include = ["capped_logistic", "logistic_regression"]
[search]
n_trials = 3
[report]
seeds = 2
curve_seeds = 1
""")
    board = result.leaderboard.set_index("family")
    assert board.loc["capped_logistic", "search_rows"] == 150
    assert board.loc["capped_logistic", "fit_rows"] == 200
    assert board.loc["logistic_regression", "search_rows"] == 275
    assert board.loc["logistic_regression", "fit_rows"] == 275
    assert board.loc["logistic_regression", "rows_note"] == ""
    said = ("capped_logistic searched on 150 of 275 training rows (its declared cap of 150 "
            "rows for a fit that grows as n^2); refitted on 200 (its declared cap of 200 "
            "rows)")
    assert board.loc["capped_logistic", "rows_note"] == said
    assert said in html
    assert ("capped_logistic searched on 150 of 275 training rows (its declared cap of 150 "
            "rows for a fit that grows as n^2)\n") in log
    assert ("capped_logistic refitted on 200 of 275 training rows (its declared cap of 200 "
            "rows)\n") in log
    assert board.loc["capped_logistic", "test_accuracy"] > 0.9  # penguins are easy
    curves = result.record.tables["learning_curves"]
    assert curves[curves.family == "capped_logistic"]["n_train"].max() == 200
    stages = result.record.run.stage_seconds
    top = {name: seconds for name, seconds in stages.items() if ": " not in name}
    assert list(top) == ["load", "search and refits", "analyses"]
    parts = {name: seconds for name, seconds in stages.items() if ": " in name}
    assert {"analyses: ensemble", "analyses: repeated seeds", "analyses: learning curves",
            "analyses: permutation importances"} <= set(parts)
    assert all(seconds >= 0 for seconds in stages.values())
    assert sum(top.values()) <= result.record.run.wall_s + 0.1
    assert sum(parts.values()) <= top["analyses"] + 0.1
    assert curves[curves.family == "logistic_regression"]["n_train"].max() == 275


def test_a_time_limit_sizes_a_quadratic_search_and_skips_a_fit_that_cannot_finish(tmp_path):
    """40,000 training rows of a real table (ggplot2's diamonds) under a 4 s trial limit:
    the quadratic family's probe fit (0.02 s of sleep on 2,000 rows, plus encoding the
    table) puts its trials on the most rows whose predicted trial takes half the limit
    (at most about 17,000 for 3 folds), its refit on more; the family whose one fit takes
    60 s is stopped at the limit and skipped; a refit far slower than predicted is stopped
    at its limit."""
    result, log, html = run(tmp_path, """
name = "sized"
seed = 0
[dataset]
name = "rdataset"
package = "ggplot2"
item = "diamonds"
target = "cut"
[families]
include = ["quadratic", "stuck", "slow_at_full_size"]
[search]
n_trials = 2
cv_folds = 3
trial_timeout = 4
[report]
seeds = 0
learning_curve = []
""")
    board = result.leaderboard.set_index("family")
    n_train = result.record.run.dataset.n_train
    assert n_train > 40_000
    searched = board.loc["quadratic", "search_rows"]
    assert 2_000 <= searched <= 18_000, board.loc["quadratic", "rows_note"]
    assert searched % 1000 == 0  # rounded to two significant digits
    # at least the rows of one of its trials' fits; fewer than all (the refit is quadratic)
    assert searched * 2 // 3 <= board.loc["quadratic", "fit_rows"] < n_train
    assert board.loc["quadratic", "trials_complete"] == 2
    trials = result.record.tables["trials"]
    assert trials[trials.family == "quadratic"]["duration_s"].max() < 4  # within the limit
    assert math.isfinite(board.loc["quadratic", "test_accuracy"])
    note = board.loc["quadratic", "rows_note"]
    assert note.startswith(f"quadratic searched on {searched:,} of {n_train:,} training rows "
                           "(one fit on 2,000 rows took 0.0")
    assert "a trial's limit is 4 s and the fit grows as n^2); refitted on" in note
    assert note.split("; refitted")[0] + "\n" in log
    assert "Searched or refitted on fewer rows" in html
    assert board.loc["stuck", "stopped_by"] == "skipped"
    assert board.loc["stuck", "note"] == ("skipped: one fit on 2,000 rows ran past a trial's "
                                          "limit of 4 s")
    assert "stuck skipped: one fit on 2,000 rows ran past" in log
    # searched on every row, its refit on all 43,152 sleeps 30 s: stopped, then refitted
    # on as many rows as one of its trials' fits had (2 of 3 folds), which it can afford
    assert board.loc["slow_at_full_size", "trials_complete"] == 2
    # stopped at the larger of the trial limit and 3x its predicted seconds, which depends
    # on how fast this machine ran the probe
    stopped = re.search(r"its refit on 43,152 rows ran past ([\d.]+) s; refitted on "
                        r"[\d,]+, as many as one of its trials' fits had",
                        board.loc["slow_at_full_size", "rows_note"])
    assert stopped, board.loc["slow_at_full_size", "rows_note"]
    assert 4 <= float(stopped.group(1)) < 30
    # (its search is on every row unless a loaded machine's probe sized it down: CI saw
    # 19,000, refitted on 12,667)
    searched_slow = board.loc["slow_at_full_size", "search_rows"]
    assert board.loc["slow_at_full_size", "fit_rows"] == searched_slow * 2 // 3
    assert math.isfinite(board.loc["slow_at_full_size", "test_accuracy"])
    assert "slow_at_full_size refitted on 28,768 of 43,152 training rows (its refit" in log
    trained = board.drop(index="ensemble", errors="ignore")  # the blend fits nothing
    assert trained["peak_memory_mb"].gt(50).all()  # the process holds the table and Python


def test_largest_rows_finds_the_most_rows_within_the_budget_rounded():
    quadratic = lambda n: (n / 1000) ** 2  # noqa: E731
    assert largest_rows(quadratic, 4.0, 100_000) == 2000
    assert largest_rows(quadratic, 5.0, 100_000) == 2200  # 2,236 rounded down
    assert largest_rows(quadratic, 1e9, 100_000) == 100_000
    assert largest_rows(quadratic, 0.0, 100_000) == 0


def test_large_tables_hold_numbers_as_float32_where_no_two_values_merge():
    rows = FLOAT32_CELLS // 2 + 1
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"measure": rng.normal(size=rows),
                          "timestamp": 1.6e9 + np.arange(rows, dtype=np.float64)})
    compact = compact_numbers(frame)
    assert compact["measure"].dtype == np.float32
    assert compact["timestamp"].dtype == np.float64  # float32 would merge neighbours
    small = compact_numbers(frame.head(1000))
    assert (small.dtypes == np.float64).all()  # small tables are left as they are
    encoded = TableEncoder().fit(compact[["measure"]]).transform(compact[["measure"]])
    assert encoded.dtype == np.float32
    assert TableEncoder().fit(small).transform(small).dtype == np.float64


def test_predictions_in_batches_equal_one_call(monkeypatch):
    import automl.api.metrics
    X = np.random.default_rng(0).normal(size=(1000, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    monkeypatch.setattr(automl.api.metrics, "PREDICT_BATCH", 128)
    np.testing.assert_array_equal(in_batches(model.predict, X), model.predict(X))
    np.testing.assert_allclose(in_batches(model.predict_proba, pd.DataFrame(X).values),
                               model.predict_proba(X))


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/clear_refs").exists(),
                    reason="the peak is read from Linux's /proc")
def test_the_peak_memory_counts_from_its_reset():
    import os
    pid = os.getpid()
    held = np.ones(50_000_000 // 8)  # 50 MB, touched
    reset_peak([pid])
    before = peak_mb([pid])
    more = np.ones(200_000_000 // 8)
    assert peak_mb([pid]) > before + 150
    del held, more
    reset_peak([pid])
    assert peak_mb([pid]) < before + 100
    assert math.isnan(peak_mb([None]))


def test_a_refit_in_epochs_past_its_limit_ends_after_an_epoch_and_keeps_its_model(tmp_path):
    """A real MLP on digits whose refit (on every training image) would take 40 s under
    a 4 s trial limit: a network's refit is asked to end at its own limit (never before
    `MIN_STOP_SECONDS`, 10 s), ends after the epoch past it, and keeps the best epoch so
    far: a model with a test score, saved, where a stopped process would have left
    nothing."""
    result, log, _ = run(tmp_path, """
name = "epochs"
seed = 0
[dataset]
name = "digits"
[families]
include = ["slow_epochs"]
[search]
n_trials = 2
trial_timeout = 4
[report]
seeds = 0
learning_curve = []
features = false
""")
    board = result.leaderboard.set_index("family")
    assert board.loc["slow_epochs", "trials_complete"] == 2
    note = board.loc["slow_epochs", "note"]
    stopped = re.fullmatch(r"the refit stopped at its time limit of 10 s after epoch (\d+) "
                           r"of 40; its best epoch so far is kept", note)
    assert stopped, note
    assert 6 <= int(stopped.group(1)) <= 11  # 1 s per epoch, the first compiles too
    assert 9 <= board.loc["slow_epochs", "fit_s"] < 18
    assert board.loc["slow_epochs", "test_accuracy"] > 0.8  # a dozen epochs learn digits
    assert f"fit {board.loc['slow_epochs', 'fit_s']:.2f}s; {note}\n" in log
    assert (tmp_path / "out" / "models" / "slow_epochs.msgpack").exists()


@pytest.mark.parametrize(("predict_rows", "expected"), [(1.0, "fewer"), (0.0, "trial rows")])
def test_a_refit_whose_prediction_grows_with_its_rows_may_use_fewer_than_its_trials(
        predict_rows, expected):
    """kNN's trials scored a fold's 20,000 rows; its refit predicts 283,000 test rows (as
    on openintro/military), each against every training row: sized to its limit, on
    fewer rows than a trial's fit had. A learner whose prediction of a row costs the same
    at any size keeps its trials' rows (they took that long already)."""
    from datetime import datetime, timedelta

    from optuna.trial import FrozenTrial, TrialState

    from automl.engine.run import fewer_rows
    from automl.fitting.row_plans import FIT_SECONDS, SCORE_SECONDS, RowPlan
    from automl.fitting.sizing import plan_fit_rows
    knn_like = family("knn_like", QuadraticSleeper, Cost(fit_rows=1.0,
                                                         predict_rows=predict_rows))
    start = datetime(2026, 1, 1)
    best = FrozenTrial(0, TrialState.COMPLETE, 0.9, start, start + timedelta(seconds=10),
                       {}, {}, {FIT_SECONDS: 1.0, SCORE_SECONDS: 9.0}, {}, {}, 0)
    plan = plan_fit_rows(knn_like, RowPlan(1_000_000, 60_000), best, 3, 20.0, 283_000)
    if expected == "fewer":
        assert 500 <= plan.fit_rows < 40_000  # 2 of 3 folds of the 60,000 searched
        assert plan.refit_seconds <= 0.75 * 20.0
        assert fewer_rows(knn_like, plan, 3) == (
            plan.fit_rows // 4, "a quarter, since its prediction of a row grows with its rows")
    else:
        assert plan.fit_rows == 40_000
        assert fewer_rows(knn_like, plan, 3)[0] == 40_000
