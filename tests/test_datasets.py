"""Loaders read real files; the engine checks data, encodes classes and splits reproducibly."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from automl.api.errors import DataError
from automl.data.datasets import RawData, prepare_dataset


def load(registry, name, **options):
    loader = registry.datasets[name].item
    defaults = {key: option.default for key, option in loader.options.items()}
    return loader.load(defaults | options)


def test_digits_are_8x8_images_with_ten_named_classes(registry):
    raw = load(registry, "digits")
    dataset = prepare_dataset(raw, name="digits", task_type=None, test_size=0.2, seed=0)
    info = dataset.info
    assert (info.input_kind, info.input_shape, info.task_type) == ("image", (8, 8, 1),
                                                                    "classification")
    assert info.class_names == tuple(str(d) for d in range(10))
    assert (info.n_train, info.n_test) == (1437, 360)
    # stratified: every class keeps its share in the test split
    assert np.bincount(dataset.test.y).min() >= 35


def test_the_split_depends_on_the_seed_only(registry):
    raw = load(registry, "wine")
    a = prepare_dataset(raw, name="wine", task_type=None, test_size=0.25, seed=3)
    b = prepare_dataset(raw, name="wine", task_type=None, test_size=0.25, seed=3)
    c = prepare_dataset(raw, name="wine", task_type=None, test_size=0.25, seed=4)
    assert np.array_equal(a.test.X, b.test.X) and not np.array_equal(a.test.X, c.test.X)


def test_mnist1d_comes_from_the_generator_as_sequences(registry):
    raw = load(registry, "mnist1d", n_samples=500)
    assert raw.input_kind == "sequence" and raw.X.shape == (500, 40, 1)
    assert set(np.unique(raw.y)) == set(range(10))


def test_diabetes_is_a_regression_task(registry):
    dataset = prepare_dataset(load(registry, "diabetes"), name="diabetes", task_type=None,
                              test_size=0.2, seed=0)
    assert dataset.info.task_type == "regression" and dataset.info.class_names is None


def test_csv_with_text_labels(registry, tmp_path):
    frame = pd.DataFrame({"x1": np.arange(30) % 7, "x2": np.linspace(0, 1, 30),
                          "kind": ["cat", "dog", "emu"] * 10})
    frame.to_csv(tmp_path / "animals.csv", index=False)
    raw = load(registry, "csv", path=str(tmp_path / "animals.csv"), target="kind")
    dataset = prepare_dataset(raw, name="animals", task_type=None, test_size=0.3, seed=0)
    assert dataset.info.class_names == ("cat", "dog", "emu")
    assert dataset.info.feature_names == ("x1", "x2")
    assert set(np.unique(dataset.train.y)) == {0, 1, 2}


def test_parquet_file(registry, tmp_path):
    frame = pd.DataFrame({"a": np.arange(20.0), "y": [0, 1] * 10})
    frame.to_parquet(tmp_path / "d.parquet")
    raw = load(registry, "parquet", path=str(tmp_path / "d.parquet"), target="y")
    assert raw.X.shape == (20, 1)


def test_csv_string_features_are_categories(registry, tmp_path):
    pd.DataFrame({"colour": ["red", "blue", None] * 5, "y": [0, 1, 1] * 5}).to_csv(
        tmp_path / "c.csv", index=False)
    raw = load(registry, "csv", path=str(tmp_path / "c.csv"), target="y")
    assert [(c.name, c.type) for c in raw.columns] == [("colour", "categorical")]
    dataset = prepare_dataset(raw, name="c", task_type=None, test_size=0.4, seed=0)
    assert isinstance(dataset.train.X["colour"].dtype, pd.CategoricalDtype)


def test_npz_with_its_own_test_split(registry, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(40, 5, 2)), y=np.arange(40) % 2,
             X_test=rng.normal(size=(10, 5, 2)), y_test=np.arange(10) % 2)
    raw = load(registry, "npz", path=str(tmp_path / "d.npz"))
    dataset = prepare_dataset(raw, name="d", task_type=None, test_size=0.2, seed=0)
    assert dataset.info.input_kind == "sequence" and dataset.info.input_shape == (5, 2)
    assert (dataset.info.n_train, dataset.info.n_test) == (40, 10)


def test_npz_test_labels_outside_the_training_classes(registry, tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((6, 2)), y=[0, 1] * 3, X_test=np.zeros((2, 2)),
             y_test=[0, 7])
    raw = load(registry, "npz", path=str(tmp_path / "d.npz"))
    with pytest.raises(DataError, match="classes absent from training"):
        prepare_dataset(raw, name="d", task_type=None, test_size=0.2, seed=0)


def _save_image(path, size, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, dtype=np.uint8)).save(path)


def test_image_folder_one_subfolder_per_class(registry, tmp_path):
    for i in range(4):
        _save_image(tmp_path / "imgs" / "circle" / f"{i}.png", (6, 5), 10 * i)
        _save_image(tmp_path / "imgs" / "square" / f"{i}.png", (6, 5), 200)
    raw = load(registry, "image_folder", path=str(tmp_path / "imgs"))
    assert raw.X.shape == (8, 6, 5, 1) and raw.class_names == ["circle", "square"]
    assert raw.X.max() <= 1.0


def test_image_folder_with_mixed_sizes_names_the_odd_file(registry, tmp_path):
    _save_image(tmp_path / "imgs" / "a" / "0.png", (6, 5), 0)
    _save_image(tmp_path / "imgs" / "b" / "1.png", (7, 5), 0)
    with pytest.raises(DataError, match="images differ in size") as caught:
        load(registry, "image_folder", path=str(tmp_path / "imgs"))
    assert "1.png" in str(caught.value)


def test_infinite_features_name_the_first_bad_row():
    X = np.ones((10, 2))
    X[7, 1] = np.inf
    with pytest.raises(DataError, match="first in row 7"):
        prepare_dataset(RawData(X, np.arange(10) % 2, "tabular"), name="x", task_type=None,
                        test_size=0.2, seed=0)


def test_regression_with_text_target_is_refused():
    with pytest.raises(DataError, match="regression target must be numeric"):
        prepare_dataset(RawData(np.ones((6, 2)), np.array(["a", "b"] * 3), "tabular"),
                        name="x", task_type="regression", test_size=0.2, seed=0)


def test_wrong_dimensions_for_the_input_kind():
    with pytest.raises(DataError, match="wrong number of dimensions for image data"):
        prepare_dataset(RawData(np.ones((6, 2)), np.arange(6) % 2, "image"), name="x",
                        task_type=None, test_size=0.5, seed=0)
