"""The texts of a table: what the text families read of it, and, for the bag-of-words
families, the other columns beside them (`TextAndTable`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin, clone


def text_column_names(frame: pd.DataFrame) -> list[str]:
    """The free-text columns of a typed table (`automl.tables.typed_frame` gives text
    the ``string`` dtype, and no other type)."""
    return [name for name in frame.columns if pd.api.types.is_string_dtype(frame[name])
            and not isinstance(frame[name].dtype, pd.CategoricalDtype)]


def texts_of(X) -> list[str]:
    """One text per row: a table's text columns joined by a newline (a blank cell adds
    nothing), or the strings of a 1-D array or list as they are."""
    if not isinstance(X, pd.DataFrame):
        return [str(text) for text in np.asarray(X, dtype=object).ravel()]
    names = text_column_names(X)
    if not names:
        raise ValueError("the table has no text column: a text family reads free text")
    columns = X[names].astype(object).where(X[names].notna(), "")
    return ["\n".join(str(v) for v in row if v) for row in columns.itertuples(index=False)]


CHARS_PER_TOKEN = 16
"""Texts are cut to `CHARS_PER_TOKEN` x a window's tokens before they are tokenized
(`window_texts`), so a text of a million characters costs what one of a few thousand
does: subword tokenizers give English a token per four or five characters (WordPiece
makes a word of over 100 characters one [UNK]), so the cut text still fills the window."""


def window_texts(texts: list[str], max_length: int) -> tuple[list[str], list[bool]]:
    """`texts` cut to what can fill a window of `max_length` tokens, and whether each
    was cut (then it is counted as truncated)."""
    limit = CHARS_PER_TOKEN * max_length
    return [text[:limit] for text in texts], [len(text) > limit for text in texts]


class TextAndTable(TransformerMixin, BaseEstimator):
    """A table's texts through `vectorizer` (TF-IDF), beside its other columns through the
    engine's `automl.tables.TableEncoder`, each scaled to [0, 1] by its training range (so
    that a price sits beside TF-IDF weights, and complement naive Bayes gets no negative
    counts): one sparse matrix. All of it is fitted on the rows `fit` is given."""

    def __init__(self, vectorizer, random_state: int = 0):
        self.vectorizer = vectorizer
        self.random_state = random_state

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import MinMaxScaler

        from automl.tables import TableEncoder
        self.vectorizer_ = clone(self.vectorizer)
        parts = [self.vectorizer_.fit_transform(texts_of(X))]
        texts = text_column_names(X) if isinstance(X, pd.DataFrame) else []
        self.other_columns_ = [c for c in getattr(X, "columns", []) if c not in texts]
        self.encoder_ = None
        if self.other_columns_:
            self.encoder_ = make_pipeline(TableEncoder("auto", self.random_state),
                                          MinMaxScaler(clip=True))
            parts.append(sparse.csr_matrix(self.encoder_.fit_transform(
                X[self.other_columns_], y)))
        return sparse.hstack(parts, format="csr")

    def transform(self, X):
        parts = [self.vectorizer_.transform(texts_of(X))]
        if self.encoder_ is not None:
            parts.append(sparse.csr_matrix(self.encoder_.transform(X[self.other_columns_])))
        return sparse.hstack(parts, format="csr")
