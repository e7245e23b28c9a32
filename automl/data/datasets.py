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
import pandas as pd
from sklearn.model_selection import train_test_split

from automl.api.errors import DataError, did_you_mean
from automl.api.schema import Option, name_problems
from automl.data.input_kinds import INPUT_KINDS, KINDS
from automl.data.tables import Column, as_frame, compact_numbers, infer_columns, typed_frame

TASK_TYPES = ("classification", "regression")
REGRESSION_DISTINCT = 20
"""A numeric target with more distinct values than this is a regression target."""


def take(X, rows):
    """Rows of a table (a DataFrame, by position) or of an array."""
    return X.iloc[rows].reset_index(drop=True) if isinstance(X, pd.DataFrame) else X[rows]


@dataclass(frozen=True)
class RawData:
    """What a dataset loader returns. Only `X`, `y` and `input_kind` are required.

    Attributes:
        X: a table for ``"tabular"`` data (a pandas DataFrame, columns of any type, or an
            ``(n, n_features)`` numeric array), ``(n, height, width, channels)`` for
            ``"image"`` and ``(n, length, channels)`` for ``"sequence"``.
        y: labels (any values) or numeric targets, one per row; rows whose target is
            missing are dropped with a note.
        input_kind: ``"tabular"``, ``"image"`` or ``"sequence"``.
        X_test, y_test: optional, a test split the data ships with (otherwise the engine
            splits by ``[dataset] test_size``).
        class_names: optional, the classes' names in the sorted order of the label
            values (default: the label values as text).
        feature_names: optional, column names of an array `X`.
        task_type: optional, ``"classification"`` or ``"regression"`` (default: the
            task file's, else inferred from y).
        source: optional, the file or folder the data came from, as errors and the
            report name it (default: the dataset's name).
        columns: optional, for a table, each column's type (`automl.data.tables.Column`;
            default: inferred from the values).
        notes: optional, what the loader did that the user should know (the report and
            the terminal show them).
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
    columns: Sequence[Column] | None = None
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class DatasetInfo:
    """What a model may know about the data without seeing it.

    For tables, X arrives as a pandas DataFrame of the used columns, each in its type's
    dtype (`automl.data.tables.typed_frame`), and `columns` describes every column of the
    file, used or not. `class_counts` counts the training split's classes.
    `balanced_decisions`: the engine's classifiers predict the class that is most
    probable once divided by its share of the training rows (`automl.api.decisions`), set
    where the optimised metric counts every class alike and the classes are uneven.
    """

    name: str
    input_kind: str
    input_shape: tuple[int, ...]
    task_type: str
    class_names: tuple[str, ...] | None
    feature_names: tuple[str, ...] | None
    n_train: int
    n_test: int
    columns: tuple[Column, ...] | None = None
    notes: tuple[str, ...] = ()
    class_counts: tuple[int, ...] | None = None
    balanced_decisions: bool = False

    @property
    def imbalanced(self) -> bool:
        """Whether the rarest training class has under 4/5 of the commonest one's rows:
        then class weighting is worth searching."""
        counts = self.class_counts
        return bool(counts) and min(counts) < 0.8 * max(counts)

    @property
    def text_columns(self) -> tuple[str, ...]:
        """The table's free-text columns (those its models use)."""
        return tuple(c.name for c in self.columns or () if c.type == "text")

    @property
    def n_classes(self) -> int:
        return len(self.class_names) if self.class_names else 0

    @property
    def n_features(self) -> int:
        """Number of values per sample once flattened."""
        return prod(self.input_shape)


@dataclass(frozen=True)
class Split:
    """Rows of a table: inputs `X`, targets `y` and, for a training split, `folds`: each
    row's validation fold (`automl.fitting.evaluate.fold_labels`), which subsamples keep, so
    that a family searched on fewer rows is still scored on the task's folds."""

    X: np.ndarray
    y: np.ndarray
    folds: np.ndarray | None = None


@dataclass(frozen=True)
class Dataset:
    """A task's data: what models may know of it (`info`), the `train` split the search
    sees and the `test` split scored once per family. `groups`: the test rows' groups
    (``[report] groups``, one text column per name, in the test split's row order), which
    no model sees; None when the task names none."""

    info: DatasetInfo
    train: Split
    test: Split
    groups: pd.DataFrame | None = None


@dataclass(frozen=True)
class DatasetLoader:
    """A dataset loader, as registered by a plugin through `automl_register_datasets`.

    Attributes:
        name: unique id (``[dataset] name = "..."`` picks it), lowercase letters, digits
            and underscores.
        load: ``load(options) -> RawData``. `options` holds the task file's ``[dataset]``
            keys that this loader declares (validated, defaults filled in, a relative
            ``path`` already resolved against the task file's folder). It raises
            ``automl.DataError`` (``DataError("problem", where=path, expected=...,
            found=...)``) for data it cannot use: the user sees one message, exit 2.
        options: the ``[dataset]`` keys the loader takes, each declared with an
            ``automl.Option``: ``{"path": Option(str, "the file to read",
            default=automl.REQUIRED), "sheet": Option(int, "which sheet", default=0)}``.
            ``default=automl.REQUIRED`` makes a key required; ``default=None`` (the
            default) makes it optional with no value. A key the loader does not declare
            is an error naming it. ``name`` and ``test_size`` are the engine's own keys
            and never reach the loader.
        description: one line for ``python -m automl plugins`` and docs/task-file.md.
        suffixes: file suffixes, lowercase with the dot (``(".jsonl",)``; ``".csv.gz"``
            for a double suffix), or ``"/"`` for folders, so that ``[dataset] path``
            alone picks this loader.
    """

    name: str
    load: Callable[[Mapping[str, Any]], RawData]
    options: Mapping[str, Option] = field(default_factory=dict)
    description: str = ""
    suffixes: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        """What is wrong with this registration (empty when it is valid)."""
        found = name_problems(self.name)
        if not callable(self.load):
            found.append("load must be callable")
        if not all(isinstance(option, Option) for option in self.options.values()):
            found.append("options must map keys to automl.Option")
        return found


def prepare_dataset(raw: RawData, *, name: str, task_type: str | None, test_size: float,
                    seed: int, groups: Sequence[str] = ()) -> Dataset:
    """Check `raw`, encode its labels and split it into train and test sets, keeping the
    test rows' `groups` (`group_frame`) beside them."""
    where = raw.source or name
    notes = list(raw.notes)
    columns = frame = None
    if raw.input_kind in KINDS and KINDS[raw.input_kind].is_table:
        frame = as_frame(raw.X, raw.feature_names)
        columns = tuple(raw.columns) if raw.columns is not None else \
            infer_columns(frame, _all_numeric(raw.X, frame))
        X = _table(frame, columns, where, "X")
    else:
        X = _features(raw.X, raw.input_kind, where, "X")
    y = np.asarray(raw.y)
    _check_lengths(X, y, where, "X", "y")
    grouped = group_frame(frame, y, groups, where) if groups else None
    X, y, grouped = _drop_missing_targets(X, y, notes, "", grouped)
    task_type = task_type or raw.task_type or _infer_task_type(y)
    if raw.X_test is not None:
        X_test = (_table(as_frame(raw.X_test, raw.feature_names), columns, where, "X_test")
                  if columns is not None else
                  _features(raw.X_test, raw.input_kind, where, "X_test"))
        y_test = np.asarray(raw.y_test)
        _check_lengths(X_test, y_test, where, "X_test", "y_test")
        test_groups = (group_frame(as_frame(raw.X_test, raw.feature_names)
                                   if frame is not None else None, y_test, groups, where)
                       if groups else None)
        X_test, y_test, test_groups = _drop_missing_targets(
            X_test, y_test, notes, " of the test split", test_groups)
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
        X, X_test, y, y_test, test_groups = _split(X, y, task_type, test_size, seed, where,
                                                   grouped)
    if columns is not None:
        feature_names = tuple(X.columns)
        X, X_test = X.reset_index(drop=True), X_test.reset_index(drop=True)
    else:
        feature_names = tuple(raw.feature_names) if raw.feature_names is not None else None
    info = DatasetInfo(
        name=name, input_kind=raw.input_kind, input_shape=tuple(X.shape[1:]),
        task_type=task_type, class_names=class_names, feature_names=feature_names,
        n_train=len(X), n_test=len(X_test), columns=columns, notes=tuple(notes),
        class_counts=(tuple(int(c) for c in np.bincount(y, minlength=len(class_names)))
                      if task_type == "classification" else None))
    if test_groups is not None:
        test_groups = test_groups.reset_index(drop=True)
        if CLASS_GROUP in test_groups and class_names is not None and \
                (frame is None or CLASS_GROUP not in frame.columns):
            test_groups[CLASS_GROUP] = np.asarray(class_names)[y_test]
    return Dataset(info, Split(X, y), Split(X_test, y_test), test_groups)


CLASS_GROUP = "class"
"""A ``[report] groups`` name that groups rows by their true class (on data without a
column of that name)."""
BINNED_ABOVE = 10
"""A numeric group column with more distinct values than this is grouped by quartile."""


def group_frame(frame: pd.DataFrame | None, y: np.ndarray, names: Sequence[str],
                where: str) -> pd.DataFrame:
    """Each row's group under each of `names` (``[report] groups``), as text: a column
    of the table `frame` (a feature or not), binned by quartile when numeric with many
    values, with ``(blank)`` for a missing value; or `CLASS_GROUP`, the row's class."""
    found = {}
    for name in names:
        if frame is not None and name in frame.columns:
            values = frame[name]
            if (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
                    and values.nunique() > BINNED_ABOVE):
                values = _quartiles(values)
        elif name == CLASS_GROUP:
            values = pd.Series(y)
        else:
            known = [*(frame.columns if frame is not None else ()), CLASS_GROUP]
            raise DataError(f"[report] groups names {name!r}, which is not a column of the "
                            "data", where=where, expected="one of " + ", ".join(
                                map(str, known[:20])) + (" ..." if len(known) > 20 else ""),
                            found=name, hint=did_you_mean(name, map(str, known)))
        text = pd.Series(np.asarray(values, dtype=object)).astype("string")
        found[name] = text.fillna("(blank)").str.strip().replace("", "(blank)")
    return pd.DataFrame(found)


def _all_numeric(X, frame: pd.DataFrame) -> dict[str, list[str]] | None:
    """A numeric array's columns are all features as they are (types are inferred only
    for tables that come as DataFrames)."""
    return None if isinstance(X, pd.DataFrame) else {"numeric": list(frame.columns)}


def _table(frame: pd.DataFrame, columns: Sequence[Column], where: str,
           label: str) -> pd.DataFrame:
    """The used columns of a table, typed (see `automl.data.tables`)."""
    if len(frame) == 0:
        raise DataError(f"{label} has no rows", where=where)
    if not any(column.used for column in columns):
        raise DataError("no usable feature column", where=where,
                        found=", ".join(f"{c.name} ({c.type})" for c in columns[:10]),
                        hint="name the columns to use with [dataset] numeric = [...] or "
                        "categorical = [...]")
    typed = typed_frame(frame, columns)
    infinite = np.zeros(len(typed), dtype=int)  # column by column: no copy of the table
    for name in typed.select_dtypes("number"):
        infinite += np.isinf(typed[name].to_numpy())
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise DataError(f"{label} has {int(infinite.sum())} infinite values (first in row "
                        f"{row})", where=where,
                        hint="replace them with blanks (missing values are allowed)")
    return compact_numbers(typed)


def _quartiles(values: pd.Series) -> pd.Series:
    """Each value's quartile of `values`, named by its bounds (``<= 3550``,
    ``3550-4050``, ``> 4750``)."""
    numbers = values.to_numpy(dtype=float)
    inner = np.unique(np.nanquantile(numbers, [0.25, 0.5, 0.75]))
    inner = inner[inner < np.nanmax(numbers)]  # a quarter of the rows at the top value
    if not len(inner):
        inner = np.array([np.nanmin(numbers)])
    names = ([f"<= {inner[0]:g}"]
             + [f"{lo:g}-{hi:g}" for lo, hi in zip(inner[:-1], inner[1:], strict=True)]
             + [f"> {inner[-1]:g}"])
    bins = np.searchsorted(inner, numbers, side="left")
    return pd.Series(np.where(values.isna(), None, np.asarray(names, dtype=object)[bins]),
                     index=values.index)


def _drop_missing_targets(X, y: np.ndarray, notes: list[str], part: str,
                          groups: pd.DataFrame | None):
    """Rows with a target (of X, y and their groups), and a note of how many were
    dropped for having none."""
    missing = pd.isna(pd.Series(y)).to_numpy()
    if not missing.any():
        return X, y, groups
    notes.append(f"{int(missing.sum())} rows{part} have no target value and were left out")
    keep = np.flatnonzero(~missing)
    y = y[keep]
    if y.dtype == object:
        y = _settle_dtype(y)
    return take(X, keep), y, None if groups is None else take(groups, keep)


def _settle_dtype(y: np.ndarray) -> np.ndarray:
    """An object array of what are all numbers as numbers (the blanks made it object)."""
    try:
        return y.astype(np.float64)
    except (TypeError, ValueError):
        return y.astype(str)


def _features(X, input_kind: str, where: str, label: str) -> np.ndarray:
    if input_kind not in INPUT_KINDS:
        raise DataError("unknown input kind", where=where,
                        expected="one of " + ", ".join(INPUT_KINDS), found=input_kind)
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DataError(f"{label} holds values that are not numbers ({error})", where=where,
                        hint="encode text or categorical features as numbers") from None
    dims = KINDS[input_kind].sample_dims
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
    """Regression for numeric targets with non-integer values or more than
    `REGRESSION_DISTINCT` distinct values; classification otherwise."""
    if y.dtype.kind not in "iuf":
        return "classification"
    if y.dtype.kind == "f" and not np.all(np.mod(y[np.isfinite(y)], 1) == 0):
        return "regression"
    return "regression" if len(np.unique(y)) > REGRESSION_DISTINCT else "classification"


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


def _split(X, y, task_type: str, test_size: float, seed: int, where: str,
           groups: pd.DataFrame | None):
    """X_train, X_test, y_train, y_test and the test rows' groups (None without
    groups): a split stratified by class for a classification task."""
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
    # The rows drawn depend only on the number of rows, the classes and the seed: the same
    # split with groups or without.
    parts = train_test_split(X, y, *([] if groups is None else [groups]),
                             test_size=test_size, random_state=seed, stratify=stratify)
    return (*parts[:4], parts[5] if groups is not None else None)
