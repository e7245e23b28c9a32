"""One validation protocol for every family, and a pick that never looks at the test split.

On real data (the wine table; palmerpenguins as it comes): every family kind is scored on
the task's own folds, no row that stopped a fit or chose its epoch scores that fit, and a
run whose test targets are permuted picks, ranks, compares and blends exactly as before.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from automl_plugins.boosting.estimator import BoostedTrees
from automl_plugins.deep.estimator import FlaxEstimator

from automl.analyses.ties import corrected_ttest
from automl.data.datasets import Split, prepare_dataset
from automl.engine import run as run_module
from automl.engine.task import load_task
from automl.fitting.evaluate import task_folds, validate, validate_population
from automl.fitting.sizing import typical_params

FOLDS = 3


@pytest.fixture(scope="module")
def wine(registry):
    raw = registry.datasets["wine"].item.load({})
    return prepare_dataset(raw, name="wine", task_type=None, test_size=0.25, seed=0)


def row_keys(X) -> set[bytes]:
    """Each row of a numeric table, as bytes: the wine table's rows are all distinct."""
    values = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    return {row.tobytes() for row in values}


class Spy:
    """Records the rows that scored each fitted estimator (under the current `label`) and
    the rows its own early stopping set aside (the deep networks' and the boosting
    libraries' stopping share). It holds the estimators, so that their ids stay theirs."""

    def __init__(self, monkeypatch):
        self.label = ""
        self.scored: list[tuple[str, object, set[bytes]]] = []
        self.stopping: dict[int, set[bytes]] = {}
        import automl.fitting.evaluate as evaluate
        scored, split, rows, fit = (evaluate._scored, FlaxEstimator._validation_split,
                                    BoostedTrees._validation_rows, BoostedTrees.fit)

        def spy_scored(estimator, X, *args, **kwargs):
            self.scored.append((self.label, getattr(estimator, "model", estimator),
                                row_keys(X)))
            return scored(estimator, X, *args, **kwargs)

        def spy_split(estimator, X, targets):
            X_fit, X_val, *rest = split(estimator, X, targets)
            self.stopping[id(estimator)] = row_keys(X_val)
            return (X_fit, X_val, *rest)

        def spy_fit(estimator, X, y):
            estimator.spied_X_ = np.asarray(X, dtype=np.float64)
            return fit(estimator, X, y)

        def spy_rows(estimator, targets):
            fit_rows, val_rows = rows(estimator, targets)
            self.stopping[id(estimator)] = row_keys(estimator.spied_X_[val_rows])
            return fit_rows, val_rows

        monkeypatch.setattr(evaluate, "_scored", spy_scored)
        monkeypatch.setattr(FlaxEstimator, "_validation_split", spy_split)
        monkeypatch.setattr(BoostedTrees, "fit", spy_fit)
        monkeypatch.setattr(BoostedTrees, "_validation_rows", spy_rows)


def quick(family, info, **changes):
    params = typical_params(family, info, 0)
    return {**params, **{k: v for k, v in changes.items() if k in params}}


def test_every_family_kind_is_scored_on_the_task_folds_and_never_on_its_stopping_rows(
        registry, wine, monkeypatch):
    """CV-only (logistic regression), early-stopping (LightGBM), trained in epochs (the
    MLP) and a population fitted together (the MLP's `fit_population`): the rows that
    score each fold are the task's folds, the same for every family; the rows a fit set
    aside to stop early are inside the fold's fitting rows, never among those that score
    it."""
    spy = Spy(monkeypatch)
    info, train = wine.info, wine.train
    metric = registry.metrics["accuracy"].item
    expected = sorted(sorted(row_keys(train.X.iloc[score])) for _, score in
                      task_folds(info, train, FOLDS, 0))
    for name in ("logistic_regression", "lightgbm", "mlp"):
        family, spy.label = registry.models[name].item, name
        result = validate(family, quick(family, info, max_epochs=4), info, train, metric,
                          folds=FOLDS, seed=0, device="cpu")
        assert len(result.scores) == FOLDS and all(0.3 < s <= 1 for s in result.scores)
        assert result.outputs.shape == (len(train.y), info.n_classes)
    mlp = registry.models["mlp"].item
    population = [quick(mlp, info, max_epochs=4, learning_rate=rate) for rate in (1e-3, 3e-3)]
    spy.label = "mlp population"
    results = validate_population(mlp, population, info, train, metric, folds=FOLDS, seed=0,
                                  device="cpu", together=True,
                                  start_member=lambda index: lambda step, score: None)
    assert all(len(result.scores) == FOLDS for result in results)
    everything = row_keys(train.X)
    for label in ("logistic_regression", "lightgbm", "mlp", "mlp population"):
        fits = [(estimator, rows) for name, estimator, rows in spy.scored if name == label]
        members = 2 if label == "mlp population" else 1
        assert sorted(sorted(rows) for _, rows in fits) == sorted(expected * members), label
        stopped = [(spy.stopping[id(e)], rows) for e, rows in fits if id(e) in spy.stopping]
        # the population's members share the leader's split: one stopping share per fold
        assert len(stopped) == (0 if label == "logistic_regression" else FOLDS), label
        for stopping, scored in stopped:
            assert stopping and not stopping & scored
            assert stopping <= everything - scored


def test_the_out_of_fold_outputs_are_each_rows_own_folds(registry, wine):
    """A 1-nearest-neighbour model's out-of-fold outputs on the training split: no row
    predicts itself (it would be right every time), and their accuracy is the mean of the
    fold scores (the folds are near equal in size)."""
    knn = registry.models["knn"].item
    metric = registry.metrics["accuracy"].item
    result = validate(knn, {"n_neighbors": 1, "weights": "uniform", "p": 2}, wine.info,
                      wine.train, metric, folds=FOLDS, seed=0, device="cpu")
    accuracy = (result.outputs.argmax(axis=1) == wine.train.y).mean()
    assert 0.6 < accuracy < 1.0
    assert abs(accuracy - np.mean(result.scores)) < 0.01


def test_the_corrected_t_test_is_wider_than_the_plain_one():
    """Nadeau and Bengio's correction: on five folds the same differences are less
    significant than a plain paired t-test says; identical scores tie at p = 1."""
    from scipy import stats
    a = np.array([0.91, 0.93, 0.90, 0.92, 0.94])
    b = np.array([0.89, 0.92, 0.88, 0.90, 0.91])
    plain = stats.ttest_rel(a, b).pvalue
    corrected = corrected_ttest(a, b, test_to_train=1 / 4)  # five folds
    assert plain < 0.01 < corrected < 0.2
    assert corrected_ttest(a, a, test_to_train=1 / 4) == 1.0


PENGUINS = """
name = "penguins_blind"
seed = 0
[dataset]
name = "penguins"
target = "species"
[families]
include = ["logistic_regression", "knn", "lightgbm", "naive_bayes", "mlp"]
[search]
n_trials = 3
cv_folds = 3
[families.mlp]
n_trials = 2
[report]
seeds = 2
curve_seeds = 1
learning_curve = [0.5, 1.0]
importances = false
ensemble = true
"""


def named_families(text: str, families: list[str]) -> list[str]:
    """The families a verdict names, in the order it names them."""
    pattern = "|".join(sorted(map(re.escape, families), key=len, reverse=True))
    return re.findall(rf"\b({pattern})\b", text)


def test_the_pick_is_blind_to_the_test_split(registry, write_task, tmp_path, monkeypatch):
    """The same task run twice, the second time with the test targets permuted: the
    leaderboard's order, the pick, the compared pair, the ensemble's weights, the tie set
    and every family the verdict names stay the same; only test columns change."""
    from automl.report.summary import verdict
    boards, records = [], []
    for permuted in (False, True):
        output = (tmp_path / str(permuted)).as_posix()
        path = write_task(PENGUINS + f'[output]\ndir = "{output}"\n',
                          name=f"task_{permuted}.toml")
        split = run_module.split_of
        if permuted:
            def split_permuted(task, raw, seed, split=split):
                dataset = split(task, raw, seed)
                shuffled = np.random.default_rng(7).permutation(dataset.test.y)
                return replace(dataset, test=Split(dataset.test.X, shuffled))
            monkeypatch.setattr(run_module, "split_of", split_permuted)
        result = run_module.run_task(load_task(path), registry)
        boards.append(result.record.leaderboard)
        records.append(result.record)
    first, second = boards
    assert list(first["family"]) == list(second["family"])
    assert list(first["rank"]) == list(second["rank"])
    pd.testing.assert_series_equal(first["cv_mean"], second["cv_mean"])
    assert not np.allclose(first["test_accuracy"].dropna(), second["test_accuracy"].dropna())
    assert records[0].run.compared == records[1].run.compared
    pd.testing.assert_frame_equal(records[0].tables["ensemble"], records[1].tables["ensemble"])
    pd.testing.assert_frame_equal(records[0].tables["ties"], records[1].tables["ties"])
    families = list(first["family"])
    said = [named_families(verdict(record), families) for record in records]
    assert said[0] == said[1] and said[0][0] == first.loc[first["kind"] != "ensemble",
                                                          "family"].iloc[0]


def test_outer_splits_default_to_three_under_a_long_time_limit_on_small_tables():
    from automl.analyses.splits import outer_splits
    assert outer_splits(None, 1_000, None, False, 12) == 1
    assert outer_splits(None, 1_000, 600.0, False, 12) == 3
    assert outer_splits(None, 1_000, 120.0, False, 12) == 1  # a split would starve families
    assert outer_splits(None, 4_000, 600.0, False, 20) == 1  # the text families: as many
    assert outer_splits(None, 50_000, 600.0, False, 12) == 1
    assert outer_splits(5, 50_000, None, False, 12) == 5
    assert outer_splits(5, 1_000, 600.0, True, 12) == 1  # the data ships its test split


def test_the_splits_share_a_time_limit_one_after_another():
    from automl.fitting.budget import SplitPlan, TimePlan
    plan = TimePlan(300.0, started=0.0)
    shares = [SplitPlan.of(plan, index, 3) for index in range(3)]
    assert [split.end("search") for split in shares] == pytest.approx([65.0, 130.0, 195.0])
    assert [split.end("refits") for split in shares] == pytest.approx([70.0, 140.0, 210.0])
    assert all(split.end("analyses") == plan.end("analyses") for split in shares)


def test_refits_predicted_past_their_share_take_from_the_search_and_the_analyses():
    """At 600 s the refit stage is 390 to 420 s. Refits predicted at 150 s take half of
    what they lack from the search and half from the analyses; at 600 s the search gives
    at most 40% of the limit before the refits' end and the analyses half of their 132
    s. Among outer splits only the last split's refits end next to the analyses."""
    from automl.fitting.budget import SplitPlan, TimePlan
    plan = TimePlan(600.0, started=0.0)
    assert plan.reserve_refits(20.0) == pytest.approx(30.0)
    assert (plan.end("search"), plan.end("refits")) == pytest.approx((390.0, 420.0))
    assert plan.reserve_refits(150.0) == pytest.approx(150.0)
    assert (plan.end("search"), plan.end("refits")) == pytest.approx((330.0, 480.0))
    assert plan.reserve_refits(600.0) == pytest.approx(240.0 + 66.0)
    assert (plan.end("search"), plan.end("refits")) == pytest.approx((180.0, 486.0))
    assert plan.end("analyses") == pytest.approx(552.0)
    first, last = (SplitPlan.of(TimePlan(600.0, started=0.0), index, 2) for index in (0, 1))
    first.reserve_refits(150.0)
    last.reserve_refits(150.0)
    assert first.end("refits") == pytest.approx(210.0)
    assert last.end("refits") > 420.0


OUTER = PENGUINS.replace('name = "penguins_blind"', 'name = "penguins_outer"').replace(
    "[search]\n", "[search]\nrepeats = 3\n").replace("ensemble = true", "ensemble = false")


def test_three_outer_splits_give_each_family_an_interval_and_a_pick_count(
        registry, write_task, tmp_path):
    """Penguins on three seeded train/test splits: every family is searched, refitted and
    tested on each; the summary gives each a mean test score inside its interval, the
    picks add up to three, the pick is the best mean validation score, and the verdict
    and the report say so."""
    from automl.report.summary import outer_summary, verdict
    result = run_module.run_task(load_task(write_task(OUTER)), registry)
    record = result.record
    splits = record.tables["splits"]
    assert sorted(splits["split"].unique()) == [0, 1, 2]
    assert sorted(splits["split_seed"].unique()) == [0, 1, 2]
    assert splits.groupby("split")["picked"].sum().tolist() == [1, 1, 1]
    assert record.run.outer_splits == 3
    summary = outer_summary(record)
    assert set(summary["family"]) == set(splits["family"]) and len(summary) == 5
    assert summary["picked"].sum() == 3
    assert (summary["test_low"] <= summary["test_mean"]).all()
    assert (summary["test_mean"] <= summary["test_high"]).all()
    assert summary["cv_mean"].iloc[0] == summary["cv_mean"].max()
    assert summary["tied"].iloc[0] and 0 <= summary["friedman_p"].iloc[0] <= 1
    # the first split is the run's own: its rows are the leaderboard's
    first = splits[splits["split"] == 0].set_index("family")
    board = record.leaderboard.set_index("family")
    for family, row in first.iterrows():
        assert row["test"] == pytest.approx(board.loc[family, "test_accuracy"])
    said = verdict(record)
    assert f"Over 3 outer train/test splits, {summary['family'].iloc[0]} has the best" in said
    page = (tmp_path / "out" / "index.html").read_text()
    assert "over 3 outer train/test splits" in page
    assert (tmp_path / "out" / "splits.csv").is_file()


def test_validation_is_sized_to_the_training_rows():
    """Five folds on small tables, three as rows grow, one holdout share on large ones;
    folds the task sets always win."""
    from automl.data.folds import describe_validation, validation_folds
    assert [validation_folds(n, None) for n in (150, 19_999, 20_000, 99_999, 800_000)] == [
        5, 5, 3, 3, 1]
    assert validation_folds(800_000, 5) == 5 and validation_folds(100, 2) == 2
    assert describe_validation(1, 800_000, "classification") == (
        "one seeded holdout share (stratified) of 20% of the 800,000 training rows, the "
        "same for every family")
    assert describe_validation(3, 1_000, "regression") == (
        "the same 3 seeded folds of the 1,000 training rows")


def test_a_subsample_is_scored_on_its_rows_of_the_task_folds(wine):
    """A family searched on fewer rows (large tables) keeps each row's fold: the scoring
    rows of its folds are the task's scoring rows among its own rows."""
    from automl.data.folds import fold_labels
    from automl.fitting.sizing import stratified_rows, subset
    labels = fold_labels(wine.info, wine.train.y, FOLDS, 0)
    train = replace(wine.train, folds=labels)
    rows = np.sort(stratified_rows(train.y, wine.info, 60, seed=3))
    full = task_folds(wine.info, train, FOLDS, 0)
    small = task_folds(wine.info, subset(train, rows), FOLDS, 0)
    for (_, scored_full), (fitted, scored) in zip(full, small, strict=True):
        assert list(rows[scored]) == sorted(set(rows) & set(scored_full))
        assert not set(fitted) & set(scored)
    # nested: a smaller subsample's rows are among a larger one's
    assert set(stratified_rows(train.y, wine.info, 30, 3)) <= set(rows)


def test_one_holdout_share_scores_a_fifth_of_the_rows_for_every_family(registry, wine):
    """With one fold (large tables), a stratified fifth of the training rows scores every
    family once; the out-of-fold outputs are those rows' only (NaN elsewhere)."""
    from automl.data.folds import fold_labels
    labels = fold_labels(wine.info, wine.train.y, 1, 0)
    assert set(np.unique(labels)) == {-1, 0}
    assert abs((labels == 0).mean() - 0.2) < 0.01
    shares = pd.Series(wine.train.y[labels == 0]).value_counts(normalize=True).sort_index()
    overall = pd.Series(wine.train.y).value_counts(normalize=True).sort_index()
    assert np.allclose(shares, overall, atol=0.03)
    knn = registry.models["knn"].item
    result = validate(knn, {"n_neighbors": 5, "weights": "uniform"}, wine.info,
                      replace(wine.train, folds=labels), registry.metrics["accuracy"].item,
                      folds=1, seed=0, device="cpu")
    assert len(result.scores) == 1 and 0.5 < result.scores[0] <= 1
    scored = np.isfinite(result.outputs).all(axis=1)
    assert (scored == (labels == 0)).all()

