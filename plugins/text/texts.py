"""The texts of a table: what the text families read of it."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
