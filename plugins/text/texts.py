"""For the bag-of-words families: a table's texts (`automl_plugins.text_columns`) beside
its other columns (`TextAndTable`)."""

from __future__ import annotations

import pandas as pd
from automl_plugins.text_columns import text_column_names, texts_of
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin, clone


class TextAndTable(TransformerMixin, BaseEstimator):
    """A table's texts through `vectorizer` (TF-IDF), beside its other columns through the
    engine's `automl.data.tables.TableEncoder`, each scaled to [0, 1] by its training range (so
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

        from automl.data.tables import TableEncoder
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
