"""The benchmark's data: digits and MNIST-1D, split as the engine's task files split them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

TASKS = {"digits": Path("tasks/images.toml"), "mnist1d": Path("tasks/sequences.toml")}


@cache
def dataset(name: str):
    """The engine's `Dataset` for one of the built-in tasks (same split for every tool)."""
    from automl.engine.plugins import build_registry
    from automl.engine.run import load_dataset
    from automl.engine.task import load_task
    return load_dataset(load_task(TASKS[name]), build_registry())


def flat(X: np.ndarray) -> np.ndarray:
    """Samples as rows of features, for tools that take tables."""
    return X.reshape(len(X), -1).astype(np.float32)


def standardised(X: np.ndarray) -> np.ndarray:
    return ((X - X.mean()) / X.std()).astype(np.float32)
