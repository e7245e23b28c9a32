"""Text families: bag of words, networks trained from scratch, and a pretrained encoder.

They accept tables with a free-text column (input kind ``"text"``: a CSV, Parquet or R
dataset column of text, or a folder of .txt files). The bag-of-words families read the
other columns too (`texts.TextAndTable`); the networks read the text columns only
(`automl_plugins.text_columns.texts_of`). The run's tabular families see the whole table
as well, text as TF-IDF and SVD features.

- **Engineered features** (classical): TF-IDF of word and character n-grams (beside
  the table's other columns, encoded), then logistic regression, a linear SVM or
  complement naive Bayes; the n-gram ranges, ``min_df`` and the regularisation are
  searched.
- **Learned from scratch** (deep): a BPE tokenizer fitted on the training rows
  (Hugging Face ``tokenizers``), token ids into a learned embedding, then a 1-D CNN, a
  GRU/LSTM or a small Transformer encoder, with depth searched.
- **Pretrained** (transfer learning): all-MiniLM-L6-v2 from a package that ships its
  weights (`minilm`), frozen (its sentence embeddings, then a searched logistic
  regression) or fine-tuned end to end.

Every tokenizer, vocabulary and TF-IDF weight is fitted inside the estimator's ``fit``,
so it sees the rows the estimator is fitted on and nothing else.
"""

from __future__ import annotations

from automl_plugins.text.texts import TextAndTable
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.svm import LinearSVC

from automl import Cost, ModelFamily, hookimpl, qualified_name

CLASSIFICATION = frozenset({"classification"})
TEXT = frozenset({"text"})


def tfidf_space(trial, info) -> dict:
    return {"word_ngrams": trial.suggest_int("word_ngrams", 1, 2),
            "char_ngrams": trial.suggest_categorical("char_ngrams", [0, 4, 5]),
            "min_df": trial.suggest_int("min_df", 1, 5)}


def tfidf(params) -> FeatureUnion | TfidfVectorizer:
    """TF-IDF of words (1 to `word_ngrams`) and, unless `char_ngrams` is 0, of
    character n-grams within words (2 to `char_ngrams`), sublinear term frequencies."""
    words = TfidfVectorizer(ngram_range=(1, params["word_ngrams"]), min_df=params["min_df"],
                            sublinear_tf=True, max_features=100_000)
    if not params["char_ngrams"]:
        return words
    characters = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, params["char_ngrams"]),
                                 min_df=params["min_df"], sublinear_tf=True,
                                 max_features=100_000)
    return FeatureUnion([("words", words), ("characters", characters)])




TFIDF_PARAMS = ("word_ngrams", "char_ngrams", "min_df")


def features(params) -> dict:
    return {name: params[name] for name in TFIDF_PARAMS}


def classical(name: str, space, model, description: str) -> ModelFamily:
    return ModelFamily(
        name, "classical", CLASSIFICATION, TEXT,
        lambda trial, info: {**tfidf_space(trial, info), **space(trial)},
        lambda params, info, seed, device: make_pipeline(
            TextAndTable(tfidf(features(params)), seed),
            model({k: v for k, v in params.items() if k not in TFIDF_PARAMS}, seed)),
        takes_tables=True, description=description, cost=Cost(fit_rows=1.0),
        saved_types=frozenset({qualified_name(TextAndTable)}))


def frozen_space(trial, info) -> dict:
    return {"C": trial.suggest_float("C", 1e-2, 1e2, log=True)}


def frozen_minilm(params, info, seed, device):
    from automl_plugins.text.minilm import MiniLMEmbedder
    return make_pipeline(MiniLMEmbedder(max_length=128, device=device),
                         LogisticRegression(C=params["C"], max_iter=3000))


def finetuned_space(trial, info) -> dict:
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-5, 2e-4, log=True),
            "unfrozen_layers": trial.suggest_int("unfrozen_layers", 1, 6),
            "max_epochs": trial.suggest_int("max_epochs", 1, 3)}


def finetuned_minilm(params, info, seed, device):
    from automl_plugins.text.minilm import MiniLMClassifier
    return MiniLMClassifier(**params, random_state=seed, device=device)


def finetuned_start(info) -> list[dict]:
    return [{"learning_rate": 1e-4, "unfrozen_layers": 2, "max_epochs": 2}]


FAMILIES = [
    classical("tfidf_logistic",
              lambda trial: {"C": trial.suggest_float("C", 0.1, 100.0, log=True)},
              lambda p, seed: LogisticRegression(C=p["C"], max_iter=3000),
              "TF-IDF of word and character n-grams, then logistic regression"),
    classical("tfidf_linear_svm",
              lambda trial: {"C": trial.suggest_float("C", 0.01, 10.0, log=True)},
              lambda p, seed: CalibratedClassifierCV(
                  LinearSVC(C=p["C"], random_state=seed), method="sigmoid", cv=3,
                  ensemble=False),
              "TF-IDF of word and character n-grams, then a linear SVM (Platt-scaled "
              "probabilities)"),
    classical("tfidf_complement_nb",
              lambda trial: {"alpha": trial.suggest_float("alpha", 1e-3, 10.0, log=True)},
              lambda p, seed: ComplementNB(alpha=p["alpha"]),
              "TF-IDF of word and character n-grams, then complement naive Bayes"),
    ModelFamily(
        "minilm_frozen", "deep", CLASSIFICATION, TEXT, frozen_space, frozen_minilm,
        takes_tables=True, runs_on_device=True,  # by name: importing the encoder loads JAX
        saved_types=frozenset({"automl_plugins.text.minilm.MiniLMEmbedder"}),
        description="pretrained all-MiniLM-L6-v2 sentence embeddings (frozen, in JAX), "
                    "then logistic regression: transfer learning without training the "
                    "encoder"),
    ModelFamily(
        "minilm_finetuned", "deep", CLASSIFICATION, TEXT, finetuned_space, finetuned_minilm,
        evaluation="holdout", starting_points=finetuned_start, takes_tables=True,
        runs_on_device=True,
        report_params=("unfrozen_layers",),
        description="pretrained all-MiniLM-L6-v2 fine-tuned end to end (in JAX): its top "
                    "layers and a linear head trained on your texts"),
]


@hookimpl
def automl_register_models(register):
    from automl_plugins.text.scratch import SCRATCH_FAMILIES
    for family in (*FAMILIES, *SCRATCH_FAMILIES):
        register(family)
