"""Each family's refitted model is saved in a format that loads without running code
(skops for scikit-learn, msgpack for Flax) and predicts as it did in the run."""

import numpy as np
import pandas as pd
import pytest
import skops.io
from conftest import run_cli
from test_end_to_end import digits_run  # noqa: F401  (the shared small run)

from automl.datasets import prepare_dataset
from automl.errors import AutomlError
from automl.saved_models import load_model


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
    assert "holds types that are not scikit-learn's, the engine's or its plugin's" in message
    assert "test_saved_models.Sneaky" in message


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
