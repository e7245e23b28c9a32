"""Each family's refitted model is saved in a format that loads without running code
(skops for scikit-learn, msgpack for Flax) and predicts as it did in the run."""

import numpy as np
import pandas as pd
import pytest
import skops.io
from conftest import run_cli
from test_end_to_end import digits_run  # noqa: F401  (the shared small run)

from automl.api.errors import AutomlError
from automl.data.datasets import prepare_dataset
from automl.engine.saved_models import load_model
from automl.testing import tiny_data


def test_classical_models_are_saved_with_skops_and_predict_as_in_the_run(
        digits_run, registry):  # noqa: F811
    out = digits_run[0]
    saved = sorted(p.name for p in (out / "models").iterdir())
    assert saved == ["knn.skops", "logistic_regression.skops", "naive_bayes.skops"]
    assert not [p for p in out.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib")]
    raw = registry.datasets["digits"].item.load({})
    test = prepare_dataset(raw, name="digits", task_type=None, test_size=0.2, seed=1).test
    predictions = pd.read_csv(out / "predictions.csv")
    for family in ("knn", "logistic_regression", "naive_bayes"):
        model = load_model(out, family, registry)
        assert (model.predict(test.X) == predictions[family]).all()


class Sneaky:
    """A type from outside scikit-learn and the family's plugin."""


def test_a_saved_model_with_foreign_types_is_refused(digits_run, registry, tmp_path):  # noqa: F811
    folder = tmp_path / "run"
    (folder / "models").mkdir(parents=True)
    skops.io.dump({"model": Sneaky()}, folder / "models" / "knn.skops")
    with pytest.raises(AutomlError) as caught:
        load_model(folder, "knn", registry)
    message = caught.value.message()
    assert "neither scikit-learn's classes, the engine's encoder parts nor" in message
    assert "test_saved_models.Sneaky" in message


def constructor_call(module: str, name: str, args: list) -> bytes:
    """A skops file whose one object is built by calling `module`.`name`(*args) (skops'
    node for objects rebuilt from a constructor call), as a tampered file would be."""
    import io
    import json
    import zipfile
    from zoneinfo import ZoneInfo

    def schema(data: bytes) -> dict:
        return json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))

    saved = schema(skops.io.dumps({"model": ZoneInfo("UTC")}))
    call = saved["content"]["model"]
    call["__module__"], call["__class__"] = module, name
    call["content"] = {key: value for key, value in schema(skops.io.dumps(tuple(args))).items()
                       if key not in ("protocol", "_skops_version")}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", json.dumps(saved))
    return out.getvalue()


@pytest.mark.parametrize("module, name", [
    ("sklearn.utils._testing", "check_output"),  # subprocess.check_output, imported there
    ("sklearn.utils.fixes", "os.system"),
    ("automl_plugins.sklearn_models", "flatten.__globals__"),
])
def test_a_saved_model_calling_a_function_sklearn_imports_runs_nothing(
        module, name, registry, tmp_path):
    """A name under sklearn's (or the plugin's) package that is not a class defined there
    under that name is refused before anything is built: the command never runs."""
    marker = tmp_path / "ran"
    folder = tmp_path / "run"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "knn.skops").write_bytes(
        constructor_call(module, name, [["touch", str(marker)]]))
    with pytest.raises(AutomlError) as caught:
        load_model(folder, "knn", registry)
    assert f"{module}.{name}" in caught.value.message()
    assert not marker.exists()


def test_the_encoder_inside_a_network_file_is_checked_alike(tmp_path):
    from automl.engine.saved_models import load_skops_bytes
    marker = tmp_path / "ran"
    with pytest.raises(AutomlError) as caught:
        load_skops_bytes(constructor_call("sklearn.utils._testing", "check_output",
                                          [["touch", str(marker)]]))
    assert "table encoder" in caught.value.message()
    assert not marker.exists()


def test_a_deep_model_is_saved_as_msgpack_and_predicts_as_in_the_run(write_task, tmp_path,
                                                                     registry):
    task = write_task('seed = 2\n[dataset]\nname = "wine"\n[families]\ninclude = ["mlp"]\n'
                      '[search]\nn_trials = 2\n[report]\nseeds = 2\nlearning_curve = []\n')
    result = run_cli(str(task), "--quiet")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert (out / "models" / "mlp.msgpack").stat().st_size > 1000
    model = load_model(out, "mlp", registry)
    raw = registry.datasets["wine"].item.load({})
    test = prepare_dataset(raw, name="wine", task_type=None, test_size=0.2, seed=2).test
    predictions = pd.read_csv(out / "predictions.csv")
    assert np.array_equal(model.predict(test.X), predictions["mlp"].to_numpy())


def test_asking_for_a_model_the_run_did_not_save(digits_run, registry):  # noqa: F811
    with pytest.raises(AutomlError, match="no saved model of 'random_forest'"):
        load_model(digits_run[0], "random_forest", registry)


def test_a_network_file_whose_settings_outgrow_its_weights_is_refused(registry):
    """The settings in a network's file size the network: a tampered width is caught by
    comparing shapes before any weight is allocated."""
    from flax import serialization

    from automl.testing import first_params
    mlp = registry.models["mlp"].item
    data = tiny_data("tabular", "classification")
    fitted = mlp.make_estimator(first_params(mlp, data.info), data.info, 0, "cpu").fit(
        data.train.X, data.train.y)
    saved = serialization.msgpack_restore(fitted.to_bytes())
    assert np.array_equal(type(fitted).from_bytes(fitted.to_bytes()).predict(data.test.X),
                          fitted.predict(data.test.X))
    assert saved["init"]["network"] == {"architecture": "mlp",
                                        "params": fitted.network.get_params()}
    saved["init"]["network"]["params"]["width"] = 10**9  # 4 GB a layer, were it built
    with pytest.raises(ValueError, match="do not have the shapes its settings describe"):
        type(fitted).from_bytes(serialization.msgpack_serialize(saved))
    # the network is named from a closed table, never as a class path to import
    saved["init"]["network"]["architecture"] = "os.system"
    with pytest.raises(ValueError, match="unknown network 'os.system'"):
        type(fitted).from_bytes(serialization.msgpack_serialize(saved))
