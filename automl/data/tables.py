"""Tables as people have them: each column's type, inferred and shown, and the encoders
that turn a typed table into numbers inside a model's pipeline.

`infer_columns(frame, overrides)` gives every column a `Column`: its type (one of
`COLUMN_TYPES`), missing share, distinct values and what the models do with it.
`typed_frame(frame, columns)` keeps the used columns, each in one canonical dtype:

| type        | dtype           | what the encoders do                                  |
|-------------|-----------------|-------------------------------------------------------|
| numeric     | float64 (1)     | median imputation plus a missing indicator            |
| boolean     | float64 (0/1)   | as numeric                                            |
| categorical | category        | one-hot (few values) or target encoding (many)        |
| datetime    | datetime64[ns]  | year, month, day, weekday, day of year, hour          |
| text        | string          | TF-IDF of words, reduced by truncated SVD             |

(1) float32 in a large table, where that is exact enough (`compact_numbers`); the encoders
then give float32 too.

Identifier and constant columns (and those the task file ignores) are left out, with a
note. Because the dtype says the type, a typed frame describes itself: the encoders read
the roles of its columns from it, on the rows they are fitted on, and nothing fitted ever
sees validation or test rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    QuantileTransformer,
    TargetEncoder,
)

COLUMN_TYPES = ("numeric", "boolean", "categorical", "datetime", "text", "identifier",
                "constant", "ignored")
USED_TYPES = ("numeric", "boolean", "categorical", "datetime", "text")
OVERRIDABLE = ("numeric", "categorical", "datetime", "text", "ignore")
"""The [dataset] keys that name columns and force their type."""
ONE_HOT_MAX = 10
"""Categorical columns with at most this many values in the training rows are one-hot
encoded; those with more are target encoded."""
TEXT_WORDS = 5
"""String columns whose values average at least this many words are free text."""
IDENTIFIER_SHARE = 0.9
"""String columns with a distinct value on at least this share of rows are identifiers."""
PARSE_SHARE = 0.9
"""Text columns whose values parse as numbers (or dates) on this share of rows are
numbers (or dates)."""
TEXT_COMPONENTS = 20
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "t", "y"}, {"false", "no", "f", "n"}


@dataclass(frozen=True)
class Column:
    """One column of a table: what it holds and what the models do with it."""

    name: str
    type: str
    missing_share: float
    distinct: int
    note: str = ""

    @property
    def used(self) -> bool:
        return self.type in USED_TYPES

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type,
                "missing_share": round(self.missing_share, 4), "distinct": self.distinct,
                "note": self.note}


def infer_columns(frame: pd.DataFrame,
                  overrides: Mapping[str, Sequence[str]] | None = None) -> tuple[Column, ...]:
    """The type of every column of `frame`, inferred unless `overrides` (type -> column
    names, keys of `OVERRIDABLE`) forces it."""
    forced = {name: ("ignored" if kind == "ignore" else kind)
              for kind, names in (overrides or {}).items() for name in names}
    columns = []
    for name in frame.columns:
        values = frame[name]
        missing = float(values.isna().mean()) if len(values) else 0.0
        distinct = int(values.nunique(dropna=True))
        if name in forced:
            kind = forced[name]
            note = "left out: [dataset] ignore" if kind == "ignored" else ""
        else:
            kind, note = _infer(values, distinct)
        columns.append(Column(str(name), kind, missing, distinct, note))
    return tuple(columns)


def _infer(values: pd.Series, distinct: int) -> tuple[str, str]:
    present = values.dropna()
    if distinct <= 1:
        return "constant", "left out: one value on every row" if distinct else \
            "left out: every value is missing"
    if pd.api.types.is_bool_dtype(values):
        return "boolean", ""
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime", ""
    if pd.api.types.is_numeric_dtype(values):
        if distinct == 2 and set(present.unique()) <= {0, 1}:
            return "boolean", ""
        if _is_row_number(present):
            return "identifier", "left out: a distinct consecutive integer on every row"
        return "numeric", ""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return "categorical", ""
    text = present.astype(str).str.strip()
    if distinct == 2 and set(text.str.lower().unique()) <= TRUE_WORDS | FALSE_WORDS:
        return "boolean", ""
    if _numbers(text).notna().mean() >= PARSE_SHARE:
        return "numeric", "numbers stored as text"
    if _dates(text).notna().mean() >= PARSE_SHARE:
        return "datetime", ""
    if text.str.split().str.len().mean() >= TEXT_WORDS:
        return "text", ""
    if len(present) >= 20 and distinct >= IDENTIFIER_SHARE * len(present):
        return "identifier", (f"left out: {distinct} distinct values in {len(present)} "
                              "rows (names or ids say nothing about new rows)")
    return "categorical", ""


def _is_row_number(values: pd.Series) -> bool:
    if len(values) < 20 or not np.all(np.mod(values, 1) == 0):
        return False
    ordered = np.sort(values.to_numpy())
    return bool(np.all(np.diff(ordered) == 1))


def _numbers(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text, errors="coerce")


def _dates(text: pd.Series) -> pd.Series:
    # Only values that look like dates: pandas parses lone numbers and words as dates too.
    looks = text.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{4}-\d{2}", regex=True)
    if not looks.mean() >= PARSE_SHARE:
        return pd.Series(pd.NaT, index=text.index)
    return pd.to_datetime(text, errors="coerce", format="mixed", utc=True)


def typed_frame(frame: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """The used columns of `frame`, each in its type's canonical dtype (module docstring).
    Values that do not parse as their column's type become missing."""
    typed = {}
    for column in columns:
        if not column.used:
            continue
        values = frame[column.name]
        if column.type == "numeric":
            typed[column.name] = (values.astype("float64")
                                  if pd.api.types.is_numeric_dtype(values)
                                  else _numbers(values.astype("string").str.strip())
                                  ).astype("float64")
        elif column.type == "boolean":
            typed[column.name] = _booleans(values)
        elif column.type == "categorical":
            text = values.astype("string").str.strip()
            typed[column.name] = text.where(text != "", pd.NA).astype("category")
        elif column.type == "datetime":
            typed[column.name] = naive_utc(
                values if pd.api.types.is_datetime64_any_dtype(values)
                else pd.to_datetime(values.astype("string"), errors="coerce",
                                    format="mixed", utc=True))
        else:
            typed[column.name] = values.astype("string")
    return pd.DataFrame(typed, index=frame.index)


def naive_utc(dates: pd.Series) -> pd.Series:
    """Dates as datetime64[ns] without a time zone: times with an offset (``...Z``,
    ``+02:00``, as exports from web APIs write them; dslabs' trump_tweets has them)
    converted to UTC first, times without one taken as they are."""
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates.astype("datetime64[ns]")


FLOAT32_CELLS = 5_000_000
"""A table with more numeric values than this holds its numeric columns as float32 where
that is exact enough (`compact_numbers`): half the memory of a 1M-row table."""
FLOAT32_TOLERANCE = 1e-6
"""How far, as a share of its column's range, float32 may move a value."""


def compact_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each float64 column of a large table (over `FLOAT32_CELLS` numeric
    values) as float32 where that is exact enough: every value keeps its place to within
    `FLOAT32_TOLERANCE` of the column's range (measurements, counts, prices). Columns
    whose values sit close together far from zero, such as timestamps or ids stored as
    numbers, which float32 would merge, stay float64. Small tables are left as they are,
    so results on them do not change."""
    numeric = [name for name, dtype in frame.dtypes.items() if dtype == np.float64]
    if len(frame) * len(numeric) <= FLOAT32_CELLS:
        return frame
    narrow = {}
    for name in numeric:
        values = frame[name].to_numpy()
        low, high = np.nanmin(values, initial=np.inf), np.nanmax(values, initial=-np.inf)
        if not (np.isfinite(low) and max(-low, high) < np.finfo(np.float32).max):
            continue  # all blank, or values float32 cannot hold
        as32 = values.astype(np.float32)
        error = np.nanmax(np.abs(as32 - values), initial=0.0)
        if error <= FLOAT32_TOLERANCE * (high - low):
            narrow[name] = as32
    return frame.assign(**narrow) if narrow else frame


def _booleans(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    words = values.astype("string").str.strip().str.lower()
    return words.map(lambda w: 1.0 if w in TRUE_WORDS else 0.0 if w in FALSE_WORDS
                     else np.nan).astype("float64")


def as_frame(X, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
    """A table as a DataFrame: a frame as it is, a numeric array with its feature names
    (or f0, f1, ...; images and sequences flattened)."""
    if isinstance(X, pd.DataFrame):
        return X
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(len(X), -1)
    names = list(feature_names) if feature_names is not None else \
        [f"f{i}" for i in range(X.shape[1])]
    return pd.DataFrame(X, columns=names)


def roles(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Column names by role, read from the dtypes of a typed frame."""
    found: dict[str, list[str]] = {"numeric": [], "categorical": [], "datetime": [],
                                   "text": []}
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype):
            found["categorical"].append(name)
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            found["datetime"].append(name)
        elif pd.api.types.is_string_dtype(dtype):
            found["text"].append(name)
        else:
            found["numeric"].append(name)
    return found


# -- the pieces the encoders are made of: module-level, so skops can store them ---------


def datetime_parts(frame: pd.DataFrame) -> np.ndarray:
    """Year, month, day, weekday, day of year and hour of each datetime column (missing
    stays missing)."""
    parts = []
    for name in frame.columns:
        values = pd.to_datetime(frame[name])
        parts += [getattr(values.dt, part) for part in DATE_PARTS]
    return np.column_stack([np.asarray(p, dtype=np.float64) for p in parts])


DATE_PARTS = ("year", "month", "day", "day_of_week", "day_of_year", "hour")


def datetime_part_names(transformer, names) -> list[str]:
    return [f"{name}_{part}" for name in names for part in DATE_PARTS]


def category_text(frame) -> np.ndarray:
    """Categories as plain strings, missing as NaN: what scikit-learn's encoders take."""
    frame = pd.DataFrame(frame)
    return np.column_stack([frame[c].astype(object).where(frame[c].notna(), np.nan)
                            .to_numpy(dtype=object) for c in frame.columns])


def text_values(frame) -> np.ndarray:
    """One text column as a 1-D array of strings, missing as empty text."""
    column = pd.DataFrame(frame).iloc[:, 0]
    return column.astype(object).where(column.notna(), "").astype(str).to_numpy()


def text_pipeline(seed: int):
    """Free text as a few dense numbers: TF-IDF of words and word pairs, then truncated
    SVD (latent semantic analysis), so every model can take it."""
    return make_pipeline(FunctionTransformer(text_values, feature_names_out="one-to-one"),
                         TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=20000,
                                         sublinear_tf=True),
                         TruncatedSVD(TEXT_COMPONENTS, random_state=seed))


class TableEncoder(TransformerMixin, BaseEstimator):
    """A typed table (or a numeric matrix) as one dense float matrix, fitted on the rows
    it is given: numbers imputed by the median with missing indicators, categories one-hot
    or target encoded, dates split into parts, text by TF-IDF and SVD.

    `categorical`: ``"auto"`` (one-hot up to `ONE_HOT_MAX` values, target encoding above),
    ``"onehot"``, ``"target"``, or ``"ordinal"`` (integer codes in the first columns of
    the output, missing and unseen values as NaN, numbers left with their blanks: for
    models with native categories and missing values; `n_categorical_` tells how many
    code columns there are), or ``"embedding"`` (codes likewise first, missing and unseen
    values as -1, numbers imputed: for networks that learn an embedding per category;
    `category_counts_` gives each code column's number of categories). `numeric`:
    ``"impute"``, or ``"quantile"`` (then mapped to a normal distribution by their
    training quantiles, which tames skewed columns for networks). Built on scikit-learn's
    ColumnTransformer and encoders; `feature_names_out_` names the output columns.
    """

    def __init__(self, categorical: str = "auto", random_state: int = 0,
                 numeric: str = "impute"):
        self.categorical = categorical
        self.random_state = random_state
        self.numeric = numeric

    def fit(self, X, y=None):
        self._fit(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        # TargetEncoder's fit_transform cross-fits on the training rows, where fit then
        # transform would leak each row's own target into its encoding.
        return self._fit(X, y)

    def _fit(self, X, y) -> np.ndarray:
        frame = as_frame(X)
        found = roles(frame)
        self.n_categorical_ = 0
        parts = []
        categorical = found["categorical"]
        if categorical:
            parts += self._categorical_parts(frame, categorical, y)
        # Models with native categories handle missing numbers themselves, too.
        native = self.categorical == "ordinal"
        if found["numeric"]:
            imputer = SimpleImputer(strategy="median", add_indicator=True,
                                    keep_empty_features=True)
            if self.numeric == "quantile":
                imputer = make_pipeline(imputer, QuantileTransformer(
                    n_quantiles=max(2, min(1000, len(frame))),
                    output_distribution="normal", random_state=self.random_state))
            parts.append(("numeric", "passthrough" if native else imputer,
                          found["numeric"]))
        if found["datetime"]:
            dates = FunctionTransformer(datetime_parts, feature_names_out=datetime_part_names)
            parts.append(("datetime", dates if native else make_pipeline(
                dates, SimpleImputer(strategy="median", keep_empty_features=True)),
                found["datetime"]))
        for name in found["text"]:
            parts.append((f"text_{_safe(name)}", text_pipeline(self.random_state), [name]))
        self.columns_ = list(frame.columns)
        # float32 out where the table holds its numbers so (a large one): half the memory
        self.dtype_ = ("float32" if found["numeric"] and all(
            frame[name].dtype == np.float32 for name in found["numeric"]) else "float64")
        self.transformer_ = ColumnTransformer(parts, sparse_threshold=0.0,
                                              verbose_feature_names_out=True)
        if self.categorical in ("auto", "target") and y is None and categorical:
            raise ValueError("target encoding needs the target: fit(X, y)")
        encoded = np.asarray(self.transformer_.fit_transform(frame, y), dtype=self.dtype_)
        self.category_counts_ = [len(values) for values in self.transformer_
                                 .named_transformers_["categorical"][-1].categories_] \
            if self.n_categorical_ else []
        return encoded

    def _categorical_parts(self, frame: pd.DataFrame, names: list[str], y) -> list:
        text = FunctionTransformer(category_text, feature_names_out="one-to-one")
        if self.categorical in ("ordinal", "embedding"):
            self.n_categorical_ = len(names)
            absent = np.nan if self.categorical == "ordinal" else -1
            return [("categorical", make_pipeline(text, OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=absent,
                encoded_missing_value=absent)), names)]
        if self.categorical == "onehot":
            few, many = names, []
        elif self.categorical == "target":
            few, many = [], names
        else:
            counts = {name: frame[name].nunique() for name in names}
            few = [name for name in names if counts[name] <= ONE_HOT_MAX]
            many = [name for name in names if counts[name] > ONE_HOT_MAX]
        parts = []
        if few:
            parts.append(("onehot", make_pipeline(
                text, SimpleImputer(strategy="constant", fill_value="(missing)"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False)), few))
        if many:
            parts.append(("target", make_pipeline(
                text, SimpleImputer(strategy="constant", fill_value="(missing)"),
                TargetEncoder(cv=KFold(5, shuffle=True, random_state=self.random_state))),
                many))
        return parts

    def transform(self, X) -> np.ndarray:
        frame = X[self.columns_] if isinstance(X, pd.DataFrame) else as_frame(X)
        return np.asarray(self.transformer_.transform(frame), dtype=self.dtype_)

    def get_feature_names_out(self, input_features=None):
        return self.transformer_.get_feature_names_out()


def _safe(name: str) -> str:
    return re.sub(r"\W+", "_", str(name))


class EncodedModel(BaseEstimator):
    """A model that takes numbers, behind a `TableEncoder` fitted on the same rows: what
    `ModelFamily.make_estimator` gives a family that does not take tables itself.

    Not a scikit-learn Pipeline, so that a plugin's estimator needs scikit-learn's
    conventions only as far as the engine does (``fit``, ``predict``, ``predict_proba``).
    ``fit`` returns what the model's ``fit`` returns (this wrapper for the model itself),
    so the conformance kit still sees a model whose ``fit`` returns None. The model's
    attributes (``classes_``, its parameters, ...) read through.
    """

    def __init__(self, model, encoder: TableEncoder | None = None):
        self.model = model
        self.encoder = encoder

    def fit(self, X, y, validation_data=None, epoch_callback=None):
        """Fit the encoder on (X, y), then the model on the encoded rows. For models
        trained in epochs (``evaluation="holdout"``), `validation_data` is encoded with
        the fitted encoder and `epoch_callback` is called with this wrapper, which
        predicts on raw rows."""
        self.encoder_ = clone(self.encoder) if self.encoder is not None else TableEncoder()
        encoded = self.encoder_.fit_transform(X, y)
        extra = {}
        if validation_data is not None:
            extra["validation_data"] = (self.encoder_.transform(validation_data[0]),
                                        validation_data[1])
        if epoch_callback is not None:
            extra["epoch_callback"] = lambda epoch, model: epoch_callback(epoch, self)
        returned = self.model.fit(encoded, y, **extra)
        return self if returned is self.model else returned

    def predict(self, X):
        return self.model.predict(self.encoder_.transform(X))

    @property
    def predict_proba(self):
        """The model's ``predict_proba`` on encoded rows; absent when the model has none."""
        model_proba = self.model.predict_proba  # AttributeError: the model gives none
        return lambda X: model_proba(self.encoder_.transform(X))

    def __getattr__(self, name: str):
        model = self.__dict__.get("model")
        if model is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(model, name)
