"""Deep model families on JAX/Flax NNX: MLP, CNN and RNN.

Their search spaces include the architecture: depth (number of hidden, convolutional or
recurrent layers), width and how it grows with depth, activation, dropout, batch
normalisation and pooling (CNN), cell type and direction (RNN); and training: optimiser,
learning rate (log scale), weight decay, batch size, epochs (with early stopping),
learning-rate schedule and, for images, random-shift augmentation.

Each family is scored on a validation share of the training split epoch by epoch
(``evaluation="holdout"``), so the task's pruner can stop hopeless trials early, and
starts its study with one configuration known to train well, before the sampler explores.
"""

from __future__ import annotations

from automl_plugins.deep.architectures import CNN, MLP, RNN, split_params
from automl_plugins.deep.estimator import (
    POPULATION_PARAMS,
    FlaxClassifier,
    FlaxRegressor,
    fit_population,
)
from automl_plugins.deep.training import OPTIMIZERS, SCHEDULES

from automl import ModelFamily, hookimpl

TASK_TYPES = frozenset({"classification", "regression"})
TRAINING_START = {"optimizer": "adam", "learning_rate": 3e-3, "weight_decay": 1e-5,
                  "batch_size": 128, "max_epochs": 60, "schedule": "cosine",
                  "dropout": 0.1}


def training_space(trial, info, activation: bool = True) -> dict:
    """Training choices shared by every deep family (and the activation of those whose
    layers have one: not the RNN's, whose cells have their own)."""
    params = {
        "optimizer": trial.suggest_categorical("optimizer", list(OPTIMIZERS)),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-7, 1e-2, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        "max_epochs": trial.suggest_int("max_epochs", 10, 100, log=True),
        "schedule": trial.suggest_categorical("schedule", list(SCHEDULES)),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
    }
    if activation:  # suggested here, after the training choices, as it always was
        params["activation"] = trial.suggest_categorical("activation",
                                                         ["relu", "gelu", "tanh", "silu"])
    if info.input_kind == "image":
        params["augment"] = trial.suggest_categorical("augment", [False, True])
    return params


def mlp_space(trial, info) -> dict:
    return {"depth": trial.suggest_int("depth", 1, 6),
            "width": trial.suggest_int("width", 32, 512, log=True),
            "width_factor": trial.suggest_categorical("width_factor", [0.5, 0.75, 1.0]),
            **(table_space(trial, info) if info.input_kind == "tabular" else {}),
            **training_space(trial, info)}


def table_space(trial, info) -> dict:
    """How an MLP reads a table: the size of each category's learned embedding, numbers
    as they are or mapped to a normal by their quantiles, numeric embeddings (periodic,
    as RealMLP and Gorishniy et al. 2022), and class weights on uneven classes."""
    params = {
        "embedding_dim": trial.suggest_categorical("embedding_dim", [4, 8, 16]),
        "numeric_transform": trial.suggest_categorical("numeric_transform",
                                                       ["impute", "quantile"]),
        "numeric_embedding": trial.suggest_categorical("numeric_embedding",
                                                       ["none", "periodic"]),
    }
    if info.task_type == "classification" and info.imbalanced:
        params["class_weight"] = trial.suggest_categorical("class_weight",
                                                           [None, "balanced"])
    return params


def cnn_space(trial, info) -> dict:
    return {"depth": trial.suggest_int("depth", 1, 6),
            "width": trial.suggest_int("width", 8, 64, log=True),
            "width_factor": trial.suggest_categorical("width_factor", [1.0, 1.5, 2.0]),
            "kernel_size": trial.suggest_categorical("kernel_size", [3, 5]),
            "batch_norm": trial.suggest_categorical("batch_norm", [False, True]),
            "pooling": trial.suggest_categorical("pooling", ["max", "avg", "none"]),
            **training_space(trial, info)}


def rnn_space(trial, info) -> dict:
    return {"depth": trial.suggest_int("depth", 1, 3),
            "width": trial.suggest_int("width", 16, 128, log=True),
            "cell": trial.suggest_categorical("cell", ["gru", "lstm"]),
            "bidirectional": trial.suggest_categorical("bidirectional", [False, True]),
            **training_space(trial, info, activation=False)}


def builder(architecture):
    """The family's estimator for a configuration: its architecture's settings to the
    network, the rest to the trainer."""
    def build(params, info, seed, device):
        estimator = FlaxClassifier if info.task_type == "classification" else FlaxRegressor
        layers, training = split_params(params, architecture)
        return estimator(architecture(**layers), **training, random_state=seed,
                         device=device)
    return build


def train_together(estimators, X, y, validation_data, epoch_callbacks):
    """The engine's population hook, which it calls where populations train together (on
    an accelerator; see automl.search.populations.trains_together): one vmapped program."""
    return fit_population(estimators, X, y, validation_data, epoch_callbacks, together=True)


def mlp_start(info) -> list[dict]:
    start = {"depth": 2, "width": 256, "width_factor": 1.0, **TRAINING_START,
             "activation": "relu"}
    if info.input_kind == "tabular":
        start.update(embedding_dim=8, numeric_transform="quantile",
                     numeric_embedding="periodic")
        if info.task_type == "classification" and info.imbalanced:
            start["class_weight"] = None
    return [start]


def cnn_start(info) -> list[dict]:
    """Measured on digits (test accuracy 0.989-0.992 over three seeds) and MNIST-1D
    (0.966): small kernels with random shifts for images, wider ones for sequences."""
    if info.input_kind == "image":
        return [{"depth": 3, "width": 32, "width_factor": 1.5, "kernel_size": 3,
                 "batch_norm": True, "pooling": "max", **TRAINING_START,
                 "activation": "relu", "augment": True}]
    return [{"depth": 4, "width": 32, "width_factor": 1.5, "kernel_size": 5,
             "batch_norm": True, "pooling": "max", **TRAINING_START, "activation": "relu"}]


def rnn_start(info) -> list[dict]:
    """A single GRU layer reached 0.969 on MNIST-1D in about 20 s of training."""
    return [{"depth": 1, "width": 64, "cell": "gru", "bidirectional": False,
             **TRAINING_START, "dropout": 0.0}]


FAMILIES = [
    ModelFamily(
        "mlp", "deep", TASK_TYPES, frozenset({"tabular", "image", "sequence"}), mlp_space,
        builder(MLP), evaluation="holdout", starting_points=mlp_start,
        population_params=POPULATION_PARAMS, fit_population=train_together,
        takes_tables=True, report_params=("depth",), depth_param="depth", runs_on_device=True,
        description="multilayer perceptron on the flattened input; on tables, learned "
                    "embeddings of categories and numbers (Flax NNX)"),
    ModelFamily(
        "cnn", "deep", TASK_TYPES, frozenset({"image", "sequence"}), cnn_space,
        builder(CNN), evaluation="holdout", starting_points=cnn_start,
        population_params=POPULATION_PARAMS, fit_population=train_together,
        report_params=("depth",), depth_param="depth", runs_on_device=True,
        description="convolutional network: 2-D for images, 1-D for sequences (Flax NNX)"),
    ModelFamily(
        "rnn", "deep", TASK_TYPES, frozenset({"sequence"}), rnn_space, builder(RNN),
        evaluation="holdout", starting_points=rnn_start,
        population_params=POPULATION_PARAMS, fit_population=train_together,
        report_params=("depth",), depth_param="depth", runs_on_device=True,
        description="recurrent network with GRU or LSTM cells, optionally bidirectional "
                    "(Flax NNX)"),
]


@hookimpl
def automl_register_models(register):
    for family in FAMILIES:
        register(family)
