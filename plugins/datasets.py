"""Built-in dataset loaders: scikit-learn's bundled datasets, MNIST-1D generated offline,
and users' own CSV, Parquet, NPZ files and folders of images.

Nothing here downloads: scikit-learn's datasets ship with it and MNIST-1D comes from the
`mnist1d` package's generator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automl import DataError, DatasetLoader, Option, RawData, hookimpl
from automl.errors import did_you_mean
from automl.schema import REQUIRED

PATH = Option(str, "Path of the data file, relative to the task file's folder.",
              default=REQUIRED)
TARGET = Option(str, "Name of the column holding the target.", default="target")
TABLE_OPTIONS = {
    "path": PATH, "target": TARGET,
    "classes": Option(list, "The class labels, in the order the report shows them; a row "
                      "with any other label is an error. Default: the labels found.",
                      items=str),
}
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
    import pandas as pd
    path = Path(options["path"])
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except Exception as error:  # pandas raises many types for unreadable files
        raise DataError(f"cannot read the file ({type(error).__name__}: {error})",
                        where=path) from None
    target = options["target"]
    if target not in frame.columns:
        raise DataError(f"no target column '{target}'", where=path,
                        expected="one of the columns " + ", ".join(map(str, frame.columns[:20])),
                        hint=did_you_mean(target, map(str, frame.columns)) or
                        "set [dataset] target to the column to predict")
    features = frame.drop(columns=[target])
    text_columns = [str(c) for c in features.columns if not _is_numeric(features[c])]
    if text_columns:
        raise DataError("feature columns must be numeric", where=path,
                        found="text in " + ", ".join(text_columns[:10]),
                        hint="encode them as numbers or drop them")
    y = frame[target].to_numpy()
    if frame[target].isna().any():
        raise DataError(f"the target column '{target}' has missing values", where=path)
    classes = options["classes"]
    if classes is not None:
        labels = frame[target].astype(str)
        stray = labels[~labels.isin(classes)]
        if len(stray):
            row = int(stray.index[0])
            raise DataError(
                f"the target column '{target}' has labels not in [dataset] classes",
                where=path, expected="one of " + ", ".join(classes),
                found=f"{stray.iloc[0]!r} in data row {row + 1} "
                      f"({len(stray)} rows, labels {', '.join(sorted(set(stray))[:5])})")
        empty = [name for name in classes if not (labels == name).any()]
        if empty:
            raise DataError("declared classes have no rows", where=path,
                            expected="rows of every class in [dataset] classes",
                            found=", ".join(empty))
        # encode in the declared order, so class indices and names follow the task file
        y = labels.map({name: index for index, name in enumerate(classes)}).to_numpy()
    return RawData(features.to_numpy(dtype=np.float64, na_value=np.nan), y, "tabular",
                   feature_names=[str(c) for c in features.columns], source=str(path),
                   class_names=list(classes) if classes is not None else None)


def _is_numeric(column) -> bool:
    import pandas as pd
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def load_npz(options) -> RawData:
    """An NPZ file with arrays X and y, and optionally X_test and y_test.

    X of shape (n, features) is tabular, (n, length, channels) a sequence and
    (n, height, width) or (n, height, width, channels) images.
    """
    path = Path(options["path"])
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
    """A folder with one subfolder of images per class; all images of one size."""
    from PIL import Image, UnidentifiedImageError
    root = Path(options["path"])
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if len(class_dirs) < 2:
        raise DataError("an image folder needs one subfolder per class", where=root,
                        expected="at least 2 subfolders", found=len(class_dirs))
    mode = "L" if options["color"] == "grayscale" else "RGB"
    images, labels, first_shape = [], [], None
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError("class folder has no images", where=class_dir,
                            expected="files ending in " + ", ".join(IMAGE_SUFFIXES))
        for file in files:
            try:
                with Image.open(file) as image:
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
    register(DatasetLoader("csv", load_table, options=TABLE_OPTIONS, suffixes=(".csv",),
                           description="a CSV file with a header row and a target column"))
    register(DatasetLoader("parquet", load_table, options=TABLE_OPTIONS,
                           suffixes=(".parquet",),
                           description="a Parquet file with a target column"))
    register(DatasetLoader(
        "npz", load_npz,
        options={"path": PATH,
                 "input_kind": Option(str, "Input kind of X. Default: from X's shape.",
                                      choices=("tabular", "image", "sequence"))},
        suffixes=(".npz",),
        description="an NPZ file with arrays X, y and optionally X_test, y_test"))
    register(DatasetLoader(
        "image_folder", load_image_folder,
        options={"path": Option(str, "Folder with one subfolder of images per class, "
                                "relative to the task file's folder.", default=REQUIRED),
                 "color": Option(str, "Read images as grayscale (1 channel) or rgb (3).",
                                 default="grayscale", choices=("grayscale", "rgb"))},
        suffixes=("/",),
        description="a folder of images, one subfolder per class"))
