"""Networks trained from scratch on token ids: a 1-D CNN, a GRU/LSTM and a small
Transformer encoder, each behind a BPE tokenizer fitted on its training rows
(`automl_plugins.deep.tokens.TokenIds`, inside `FlaxClassifier.fit`): a
`automl_plugins.deep.architectures.Tokens` network around each body."""

from __future__ import annotations

from automl_plugins.deep.architectures import (
    CNN,
    RNN,
    Architecture,
    Tokens,
    Transformer,
    split_params,
)
from automl_plugins.deep.estimator import POPULATION_PARAMS, FlaxClassifier, fit_population

from automl import ModelFamily

VOCABULARY = 8000
MAX_LENGTH = 64
"""Tokens per text; longer texts are cut (the leaderboard's texts_truncated counts them)."""


def training_space(trial) -> dict:
    return {"learning_rate": trial.suggest_float("learning_rate", 3e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "max_epochs": trial.suggest_int("max_epochs", 5, 30, log=True),
            "embedding_dim": trial.suggest_categorical("embedding_dim", [32, 64, 128])}


def cnn_space(trial, info) -> dict:
    return {"depth": trial.suggest_int("depth", 1, 3),
            "width": trial.suggest_int("width", 32, 128, log=True),
            "kernel_size": trial.suggest_categorical("kernel_size", [3, 5]),
            **training_space(trial)}


def rnn_space(trial, info) -> dict:
    return {"depth": trial.suggest_int("depth", 1, 2),
            "width": trial.suggest_int("width", 32, 128, log=True),
            "cell": trial.suggest_categorical("cell", ["gru", "lstm"]),
            "bidirectional": trial.suggest_categorical("bidirectional", [False, True]),
            **training_space(trial)}


def transformer_space(trial, info) -> dict:
    return {"depth": trial.suggest_int("depth", 1, 4), **training_space(trial)}


START = {"learning_rate": 3e-3, "weight_decay": 1e-4, "dropout": 0.2, "max_epochs": 15,
         "embedding_dim": 64}
STARTS = {CNN: {"depth": 1, "width": 64, "kernel_size": 3},
          RNN: {"depth": 1, "width": 64, "cell": "gru", "bidirectional": False},
          Transformer: {"depth": 2}}


def builder(body):
    """The family's estimator for a configuration: the body's settings to the body, the
    embedding's size to the tokens around it, the rest to the trainer."""
    def build(params, info, seed, device):
        layers, rest = split_params(params, body)
        embedding, training = split_params(rest, Tokens)
        network = Tokens(body(**layers), VOCABULARY, MAX_LENGTH, **embedding)
        return FlaxClassifier(network, batch_size=32, patience=4, schedule="cosine",
                              **training, random_state=seed, device=device)
    return build


def train_together(estimators, X, y, validation_data, epoch_callbacks):
    return fit_population(estimators, X, y, validation_data, epoch_callbacks, together=True)


def family(name: str, body: type[Architecture], space, description: str) -> ModelFamily:
    return ModelFamily(
        name, "deep", frozenset({"classification"}), frozenset({"text"}), space,
        builder(body), evaluation="holdout",
        starting_points=lambda info: [{**STARTS[body], **START}],
        population_params=POPULATION_PARAMS & set(START), fit_population=train_together,
        takes_tables=True, report_params=("depth",), depth_param="depth", runs_on_device=True,
        description=description)


SCRATCH_FAMILIES = [
    family("text_cnn", CNN, cnn_space, "a 1-D CNN on learned token embeddings (BPE "
           "tokenizer fitted on the training texts)"),
    family("text_rnn", RNN, rnn_space, "a GRU or LSTM on learned token embeddings "
           "(BPE tokenizer fitted on the training texts)"),
    family("text_transformer", Transformer, transformer_space, "a small Transformer "
           "encoder on learned token embeddings (BPE tokenizer fitted on the "
           "training texts)"),
]
