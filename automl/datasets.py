"""Datasets: what a loader plugin returns, and how the engine turns it into a task's data.

A loader returns `RawData` (arrays plus what they are). `prepare_dataset` checks it, decides
the task type, encodes class labels as ``0..n_classes-1`` and makes the stratified
train/test split with the task's seed. The result is a `Dataset`: its `info` (shapes,
classes, task type; what models may look at), its `train` split (what the search sees)
and its `test` split (scored once per family, after the search).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from automl.errors import DataError
from automl.schema import Option, name_problems

TASK_TYPES = ("classification", "regression")
INPUT_KINDS = ("tabular", "image", "sequence")
# Number of array dimensions per sample, by input kind: features; height, width,
# channels; length, channels.
SAMPLE_DIMS = {"tabular": 1, "image": 3, "sequence": 2}


@dataclass(frozen=True)
class RawData:
    """What a dataset loader returns.

    X has shape ``(n, n_features)`` for tabular data, ``(n, height, width, channels)`` for
    images and ``(n, length, channels)`` for sequences. y holds labels (any values) or
    numeric targets. A loader that ships its own test split fills `X_test` and `y_test`;
    otherwise the engine splits. `class_names`, when given, names the classes in the
    sorted order of the label values.
    """

    X: np.ndarray
    y: np.ndarray
    input_kind: str
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: Sequence[str] | None = None
    feature_names: Sequence[str] | None = None
    task_type: str | None = None
    source: str = ""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model may know about the data without seeing it."""

    name: str
    input_kind: str
    input_shape: tuple[int, ...]
    task_type: str
    class_names: tuple[str, ...] | None
    feature_names: tuple[str, ...] | None
    n_train: int
    n_test: int

    @property
    def n_classes(self) -> int:
        return len(self.class_names) if self.class_names else 0

    @property
    def n_features(self) -> int:
        """Number of values per sample once flattened."""
        return prod(self.input_shape)


@dataclass(frozen=True)
class Split:
    X: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Dataset:
    info: DatasetInfo
    train: Split
    test: Split


@dataclass(frozen=True)
class DatasetLoader:
    """A dataset loader, as registered by a plugin through `automl_register_datasets`.

    `load(options)` returns `RawData`; `options` holds the task file's ``[dataset]`` keys
    that this loader declares in `options` (validated, defaults filled in, a relative
    ``path`` already resolved against the task file's folder). It raises `DataError` for
    data it cannot use.
    """

    name: str
    load: Callable[[Mapping[str, Any]], RawData]
    options: Mapping[str, Option] = field(default_factory=dict)
    description: str = ""
    suffixes: tuple[str, ...] = ()
    """File suffixes (".csv") or "/" for folders, to pick this loader from a path alone."""

    def problems(self) -> list[str]:
        """What is wrong with this registration (empty when it is valid)."""
        found = name_problems(self.name)
        if not callable(self.load):
            found.append("load must be callable")
        if not all(isinstance(option, Option) for option in self.options.values()):
            found.append("options must map keys to automl.Option")
        return found


def prepare_dataset(raw: RawData, *, name: str, task_type: str | None, test_size: float,
                    seed: int) -> Dataset:
    """Check `raw`, encode its labels and split it into train and test sets."""
    where = raw.source or name
    X = _features(raw.X, raw.input_kind, where, "X")
    y = np.asarray(raw.y)
    _check_lengths(X, y, where, "X", "y")
    task_type = task_type or raw.task_type or _infer_task_type(y)
    if raw.X_test is not None:
        X_test = _features(raw.X_test, raw.input_kind, where, "X_test")
        y_test = np.asarray(raw.y_test)
        _check_lengths(X_test, y_test, where, "X_test", "y_test")
        if X_test.shape[1:] != X.shape[1:]:
            raise DataError("test samples differ in shape from training samples", where=where,
                            expected=f"shape {X.shape[1:]}", found=X_test.shape[1:])
    if task_type == "classification":
        labels = np.concatenate([y, y_test]) if raw.X_test is not None else y
        classes, class_names = _classes(labels, raw.class_names, where)
        y = np.searchsorted(classes, y)
        if raw.X_test is not None:
            unknown = set(np.unique(y_test).tolist()) - set(np.unique(raw.y).tolist())
            if unknown:
                raise DataError("the test labels include classes absent from training",
                                where=where, found=sorted(unknown))
            y_test = np.searchsorted(classes, y_test)
    else:
        y = _numeric_target(y, where)
        class_names = None
        if raw.X_test is not None:
            y_test = _numeric_target(y_test, where)
    if raw.X_test is None:
        X, X_test, y, y_test = _split(X, y, task_type, test_size, seed, where)
    info = DatasetInfo(
        name=name, input_kind=raw.input_kind, input_shape=tuple(X.shape[1:]),
        task_type=task_type, class_names=class_names,
        feature_names=tuple(raw.feature_names) if raw.feature_names is not None else None,
        n_train=len(X), n_test=len(X_test))
    return Dataset(info, Split(X, y), Split(X_test, y_test))


def _features(X, input_kind: str, where: str, label: str) -> np.ndarray:
    if input_kind not in INPUT_KINDS:
        raise DataError("unknown input kind", where=where,
                        expected="one of " + ", ".join(INPUT_KINDS), found=input_kind)
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DataError(f"{label} holds values that are not numbers ({error})", where=where,
                        hint="encode text or categorical features as numbers") from None
    dims = SAMPLE_DIMS[input_kind]
    if X.ndim != dims + 1:
        raise DataError(f"{label} has the wrong number of dimensions for {input_kind} data",
                        where=where, expected=f"{dims + 1} dimensions", found=X.shape)
    if len(X) == 0:
        raise DataError(f"{label} has no rows", where=where)
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise DataError(f"{label} has {int(bad.sum())} missing or infinite values "
                        f"(first in row {int(rows[0])})", where=where,
                        hint="fill or drop them before running the task")
    return X


def _check_lengths(X, y, where: str, x_label: str, y_label: str) -> None:
    if len(X) != len(y):
        raise DataError(f"{x_label} and {y_label} differ in length", where=where,
                        expected=f"{len(X)} targets", found=len(y))


def _infer_task_type(y: np.ndarray) -> str:
    """Regression for non-integer numeric targets; classification otherwise."""
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.mod(y[np.isfinite(y)], 1) == 0):
        return "regression"
    return "classification"


def _classes(labels: np.ndarray, names: Sequence[str] | None, where: str):
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise DataError("the target has missing values", where=where)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DataError("a classification target needs at least two classes", where=where,
                        found=f"only {classes.tolist()}")
    if names is not None:
        if len(names) != len(classes):
            raise DataError("the class names do not match the labels", where=where,
                            expected=f"{len(classes)} names", found=len(names))
        return classes, tuple(str(name) for name in names)
    return classes, tuple(_label_text(value) for value in classes)


def _label_text(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _numeric_target(y: np.ndarray, where: str) -> np.ndarray:
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError("a regression target must be numeric", where=where,
                        found=f"values such as {y[:3].tolist()}") from None
    if not np.all(np.isfinite(y)):
        raise DataError("the target has missing or infinite values", where=where)
    return y


def _split(X, y, task_type: str, test_size: float, seed: int, where: str):
    stratify = y if task_type == "classification" else None
    if stratify is not None:
        counts = np.bincount(y)
        n_test = int(np.ceil(test_size * len(y)))
        if counts.min() < 2 or n_test < len(counts) or len(y) - n_test < len(counts):
            raise DataError("too few samples for a stratified train/test split", where=where,
                            expected="at least 2 samples of every class, and test and train "
                            f"sets of at least {len(counts)} samples",
                            found=f"{int(counts.min())} in the rarest class, "
                            f"{n_test} test samples")
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=stratify)
