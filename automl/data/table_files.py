"""Reading table files as people export them: CSV with any of the usual delimiters
(sniffed), a decimal comma beside ``;``, gzip-compressed CSV, and Parquet.

`read_table` is used both for a task's data and for the new rows that
``python -m automl predict`` is given, so both are read the same way.
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import pandas as pd

from automl.api.errors import DataError

DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet")


def suffix(path: Path) -> str:
    """The suffix that says what a file holds (``.csv.gz`` counts as one)."""
    name = path.name.lower()
    return next((s for s in TABLE_SUFFIXES if name.endswith(s)), path.suffix.lower())


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (plain or gzipped) or Parquet file as a DataFrame, or a `DataError` naming
    the file and what pandas could not read."""
    path = Path(path)
    try:
        if suffix(path) == ".parquet":
            return pd.read_parquet(path)
        delimiter = sniff_delimiter(path)
        decimal = "," if delimiter == ";" and _decimal_comma(path) else "."
        return pd.read_csv(path, sep=delimiter, decimal=decimal, skipinitialspace=True)
    except DataError:
        raise
    except Exception as error:  # pandas raises many types for unreadable files
        raise DataError(f"cannot read the file ({type(error).__name__}: {error})",
                        where=path) from None


def _head(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as file:
        raw = file.read(SNIFF_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start > len(raw) - 4:  # a character cut at the end of the sample
            return raw[:error.start].decode("utf-8")
        raise DataError(f"cannot read the file: it is not UTF-8 text (byte {error.start}: "
                        f"{raw[error.start:error.start + 1]!r})", where=path,
                        hint="save it as UTF-8 CSV") from None


def sniff_delimiter(path: Path) -> str:
    """The delimiter of a CSV file, from its first lines (a comma when unsure)."""
    head = _head(path)
    lines = head.splitlines()[:50]
    if len(lines) > 1 and not head.endswith("\n"):
        lines = lines[:-1]  # the sample may end inside a line
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS} if lines else {}
        best = max(counts, key=counts.get) if counts else ","
        return best if counts.get(best) else ","


def _decimal_comma(path: Path) -> bool:
    """Whether numbers in a ``;`` file are written with a decimal comma (1,5)."""
    return bool(re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", _head(path), re.MULTILINE))
