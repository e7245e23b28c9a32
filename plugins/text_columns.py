"""The texts of a table: what every family that reads free text (the bag-of-words, the
networks trained from scratch, MiniLM) reads of it. Below both the deep and the text
plugins, so that neither imports the other to read a text."""

from __future__ import annotations

import numpy as np
import pandas as pd


def text_column_names(frame: pd.DataFrame) -> list[str]:
    """The free-text columns of a typed table (`automl.data.tables.typed_frame` gives text
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
