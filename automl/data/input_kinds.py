"""The kinds of input a dataset holds, each declared once: what one sample is, how the
importances cut it into features, which engineered features are made from it, and how
the conformance kit draws tiny samples of it. A new kind is one `InputKind` in `KINDS`;
the loaders, the analyses, the report and the kit read it from here.

Families also accept ``"text"`` (`FAMILY_INPUT_KINDS`): a table with a free-text column,
which is a table as far as the data goes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from automl.data.features import gradient_histograms, summary_statistics

if TYPE_CHECKING:
    from automl.data.datasets import DatasetInfo

MAX_PIXELS = 256
"""Images with more pixels than this are read in square patches, at most 16x16 of them."""
MAX_WINDOWS = 32
"""Sequences are cut into at most this many windows of time steps."""
TOP_WORDS = 30
"""Words of a text whose presence is shuffled: the most frequent in the training texts,
stop words and words under 3 letters aside."""


@dataclass(frozen=True)
class Groups:
    """The features of an input kind: their names, and for each the input values it
    covers (`masks` over one sample, for arrays; `columns` and `words`, for tables).
    `grid` places image patches for the pictures."""

    names: list[str]
    masks: list[np.ndarray] | None = None  # arrays: which of a sample's values
    columns: list[str] | None = None  # tables: the columns shuffled as they are
    words: list[str] | None = None  # tables with text: the words shuffled by presence
    grid: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class InputKind:
    """One kind of input.

    name: what a loader's `RawData.input_kind` and a family's ``input_kinds`` say.
    sample_dims: the dimensions of one sample of X (features; height, width, channels;
        length, channels); None for a table, which comes as a DataFrame of typed columns.
    feature_groups: ``feature_groups(info, train_X) -> Groups``: the features that
        permutation importance shuffles one at a time (`automl.analyses.explain`).
    descriptors: hand-crafted features by name, ``describe(X) -> (n, k) array``, made
        beside PCA for the engineered-features comparison (`automl.data.features`).
    shown_as_pictures: whether the report shows the samples two families disagree on.
    tiny_shape: one sample's shape in the conformance kit's tiny data.
    """

    name: str
    sample_dims: int | None
    feature_groups: Callable[[DatasetInfo, object], Groups]
    tiny_shape: tuple[int, ...]
    descriptors: Mapping[str, Callable[[np.ndarray], np.ndarray]] = field(
        default_factory=dict)
    shown_as_pictures: bool = False

    @property
    def is_table(self) -> bool:
        return self.sample_dims is None


def table_groups(info: DatasetInfo, train_X) -> Groups:
    """A table's columns, and the words of its text columns (chosen on the training
    texts), shuffled by presence."""
    texts = [c for c in info.text_columns if c in train_X.columns]
    columns = [c for c in train_X.columns if c not in texts]
    words = frequent_words(train_X[texts]) if texts else []
    return Groups([*columns, *(f"word '{w}'" for w in words)], columns=columns, words=words)


def image_groups(info: DatasetInfo, _train_X) -> Groups:
    """Each pixel with all its channels, or square patches on images over
    `MAX_PIXELS`."""
    shape = tuple(info.input_shape)
    height, width = shape[0], shape[1]
    side = 1 if height * width <= MAX_PIXELS else math.ceil(max(height, width) / 16)
    names, masks, grid = [], [], []
    for row in range(0, height, side):
        for col in range(0, width, side):
            mask = np.zeros(shape, dtype=bool)
            mask[row:row + side, col:col + side] = True
            names.append(f"pixel ({row}, {col})" if side == 1
                         else f"patch ({row}-{row + side - 1}, {col}-{col + side - 1})")
            masks.append(mask)
            grid.append((row // side, col // side))
    return Groups(names, masks=masks, grid=grid)


def sequence_groups(info: DatasetInfo, _train_X) -> Groups:
    """Windows of time steps, at most `MAX_WINDOWS`."""
    shape = tuple(info.input_shape)
    length = shape[0]
    step = math.ceil(length / min(length, MAX_WINDOWS))
    names, masks = [], []
    for start in range(0, length, step):
        mask = np.zeros(shape, dtype=bool)
        mask[start:start + step] = True
        names.append(f"steps {start}-{min(start + step, length) - 1}")
        masks.append(mask)
    return Groups(names, masks=masks, grid=[(0, i) for i in range(len(names))])


def frequent_words(texts: pd.DataFrame, top: int = TOP_WORDS) -> list[str]:
    """The `top` words found in most of the texts (lowercased, stop words aside)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
    joined = texts.astype(object).fillna("").agg(" ".join, axis=1)
    words = r"(?u)\b[^\W\d_]{3,}\b"  # of three letters or more
    counter = CountVectorizer(lowercase=True, binary=True, token_pattern=words,
                              stop_words=list(ENGLISH_STOP_WORDS))
    try:
        counts = np.asarray(counter.fit_transform(joined).sum(axis=0)).ravel()
    except ValueError:  # no word at all
        return []
    words = counter.get_feature_names_out()
    order = np.lexsort((words, -counts))  # most frequent first, then alphabetical
    return [str(words[i]) for i in order[:top]]


KINDS: dict[str, InputKind] = {kind.name: kind for kind in (
    InputKind("tabular", None, table_groups, tiny_shape=(6,)),
    InputKind("image", 3, image_groups, tiny_shape=(8, 8, 1),
              descriptors={"gradient_histograms": gradient_histograms},
              shown_as_pictures=True),
    InputKind("sequence", 2, sequence_groups, tiny_shape=(24, 1),
              descriptors={"summary_statistics": summary_statistics}),
)}
"""Every input kind, by name."""

INPUT_KINDS = tuple(KINDS)
FAMILY_INPUT_KINDS = (*INPUT_KINDS, "text")
"""What a family may accept: the input kinds, and ``"text"`` (tables with a free-text
column, `automl.data.datasets.DatasetInfo.text_columns`)."""


def kind_of(info: DatasetInfo) -> InputKind:
    """The declaration of `info`'s kind of input."""
    return KINDS[info.input_kind]
