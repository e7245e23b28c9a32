"""For whom does it work? Group columns (left out of the features or not) follow the
test rows; a real run on the Titanic passenger list scores every family per sex, per
class and per both, with intervals, flags tiny groups, computes the gaps and rates from
the groups it ranks, and writes its report section; digits group by their true class;
bad group names are refused with the column and a hint."""

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from automl.api.errors import DataError
from automl.data.datasets import RawData, prepare_dataset
from automl.data.tables import infer_columns


@pytest.fixture(scope="module")
def penguins():
    import palmerpenguins
    frame = palmerpenguins.load_penguins()
    return frame.drop(columns="species"), frame["species"].to_numpy()


def prepared(penguins, groups, ignore=()):
    X, y = penguins
    columns = infer_columns(X, {"ignore": list(ignore)})
    return prepare_dataset(RawData(X, y, "tabular", columns=columns), name="penguins",
                           task_type=None, test_size=0.25, seed=0, groups=groups)


def test_a_group_column_left_out_of_the_features_follows_the_test_rows(penguins):
    grouped = prepared(penguins, ["sex", "body_mass_g", "class"], ignore=["sex"])
    plain = prepared(penguins, [])
    assert "sex" not in grouped.test.X.columns and plain.groups is None
    # The same split with or without groups, and each test row's own values.
    assert np.array_equal(grouped.test.y, plain.test.y)
    sexes = plain.test.X["sex"].astype("string").fillna("(blank)")
    assert grouped.groups["sex"].tolist() == sexes.tolist()
    assert "(blank)" in set(grouped.groups["sex"])
    masses = grouped.groups["body_mass_g"]  # quartiles, not 90 masses
    assert set(masses) == {"<= 3550", "3550-4050", "4050-4750", "> 4750", "(blank)"}
    raw_masses = penguins[0]["body_mass_g"]
    assert (raw_masses <= 3550).mean() == pytest.approx(0.25, abs=0.02)
    names = np.asarray(grouped.info.class_names)
    assert grouped.groups["class"].tolist() == names[grouped.test.y].tolist()


def test_a_misspelt_group_column_is_refused_with_a_hint(penguins):
    with pytest.raises(DataError, match="'sexx', which is not a column") as raised:
        prepared(penguins, ["sexx"])
    assert "did you mean 'sex'" in str(raised.value)


@pytest.fixture(scope="module")
def titanic(tmp_path_factory):
    """One real run on the Titanic passengers (1,309 rows), grouped by sex (a feature)
    and by class (left out of the features)."""
    from automl.engine.plugins import build_registry
    from automl.engine.run import load_dataset, run_task
    from automl.engine.task import load_task
    folder = tmp_path_factory.mktemp("titanic")
    path = folder / "task.toml"
    path.write_text(
        '[dataset]\nname = "rdataset"\npackage = "carData"\nitem = "TitanicSurvival"\n'
        'target = "survived"\nignore = ["passengerClass"]\n'  # a group, not a feature
        '[families]\ninclude = ["logistic_regression", "mlp"]\n'
        '[search]\nn_trials = 2\ncv_folds = 3\n[report]\nseeds = 0\nlearning_curve = []\n'
        'importances = false\ngroups = ["sex", "passengerClass"]\n'
        f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
    task = load_task(path)
    registry = build_registry()
    run_task(task, registry)
    out = folder / "out"
    return {"out": out, "dataset": load_dataset(task, registry),
            **{name: pd.read_csv(out / f"{name}.csv")
               for name in ("subgroups", "subgroup_gaps", "subgroup_pairs", "predictions")}}


def test_every_family_is_scored_on_every_group_with_an_interval(titanic):
    scores, dataset = titanic["subgroups"], titanic["dataset"]
    assert set(scores.grouping) == {"sex", "passengerClass", "sex × passengerClass"}
    assert {"logistic_regression", "mlp"} <= set(scores.family)
    assert set(scores.group[scores.grouping == "sex"]) == {"female", "male"}
    assert "female · 1st" in set(scores.group)
    assert "passengerClass" not in dataset.test.X.columns
    sizes = scores.groupby(["family", "grouping"])["rows"].sum()
    assert (sizes == dataset.info.n_test).all()
    # Each group's score is the family's accuracy on that group's test rows.
    predictions = titanic["predictions"]
    for row in scores[scores.grouping == "passengerClass"].itertuples():
        rows = np.flatnonzero(dataset.groups["passengerClass"] == row.group)
        assert row.score == pytest.approx(
            np.mean(predictions[row.family].to_numpy()[rows] == dataset.test.y[rows]))
    ranked = scores[scores.ranked]
    assert (ranked.low <= ranked.score + 1e-12).all()
    assert (ranked.score <= ranked.high + 1e-12).all()
    assert (ranked.high - ranked.low < 0.4).all()
    assert ((0 <= scores.selection_rate) & (scores.selection_rate <= 1)).all()


def test_tiny_groups_are_flagged_and_left_out_of_the_gaps(titanic):
    scores, gaps = titanic["subgroups"], titanic["subgroup_gaps"]
    assert (scores.ranked == (scores.rows >= 30)).all()
    assert not scores.ranked.all()  # some sex × class cells have under 30 test rows
    for gap in gaps.itertuples():
        own = scores[(scores.family == gap.family) & (scores.grouping == gap.grouping)
                     & scores.ranked]
        assert gap.ranked_groups == len(own)
        assert gap.worst_group == own.loc[own.score.idxmin(), "group"]
        assert gap.gap == pytest.approx(own.score.max() - own.score.min())
        assert gap.gap_low <= gap.gap + 1e-12 <= gap.gap_high + 2e-12
        assert gap.selection_rate_difference == pytest.approx(
            own.selection_rate.max() - own.selection_rate.min())
        assert gap.equalized_odds_difference == pytest.approx(max(
            own.true_positive_rate.max() - own.true_positive_rate.min(),
            own.false_positive_rate.max() - own.false_positive_rate.min()))
    # Women survived far more often than men: every family's selection rate differs.
    assert (gaps[gaps.grouping == "sex"].selection_rate_difference > 0.3).all()


def test_the_compared_pair_is_told_apart_per_group_and_the_section_says_so(titanic):
    pairs = titanic["subgroup_pairs"]
    assert set(pairs.family_a) | set(pairs.family_b) == {"logistic_regression", "mlp"}
    assert set(pairs.ahead.fillna("")) <= {"logistic_regression", "mlp", "tie", ""}
    assert (pairs.ahead.fillna("").eq("") == (pairs.rows < 30)).all()
    assert np.allclose(pairs.difference, pairs.score_a - pairs.score_b)
    html = (titanic["out"] / "index.html").read_text()
    assert "For whom does it work?" in html and "By sex × passengerClass" in html
    assert "smallest gap between groups" in html and "shown but not ranked" in html


def test_digits_grouped_by_their_true_class(run_written):
    out = run_written('[dataset]\nname = "digits"\n[families]\n'
                      'include = ["logistic_regression"]\n[search]\nn_trials = 1\n'
                      'cv_folds = 2\n[report]\nseeds = 0\nlearning_curve = []\n'
                      'importances = false\nensemble = false\ngroups = ["class"]\n')
    scores = pd.read_csv(out / "subgroups.csv", dtype={"group": str})
    assert sorted(scores.group) == [str(digit) for digit in range(10)]
    assert scores.ranked.all() and (scores.score > 0.7).all()
    assert scores.rows.sum() == 360
    gaps = pd.read_csv(out / "subgroup_gaps.csv")
    assert gaps.ranked_groups.iloc[0] == 10 and gaps.selection_rate_difference.isna().all()


@pytest.mark.parametrize("groups, fragment", [
    ('["island", "island"]', "key 'report.groups': groups need distinct columns"),
    ('["islands"]', "[report] groups names 'islands', which is not a column"),
])
def test_bad_groups_exit_2_naming_the_key(write_task, tmp_path, groups, fragment):
    import palmerpenguins
    palmerpenguins.load_penguins().to_csv(tmp_path / "penguins.csv", index=False)
    task = write_task(f'[dataset]\npath = "penguins.csv"\ntarget = "species"\n'
                      f'[families]\ninclude = ["naive_bayes"]\n[report]\ngroups = {groups}\n')
    result = run_cli(str(task))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert fragment in result.stderr
