"""Every built-in model family passes the conformance kit third-party authors run."""

import numpy as np
import pytest

from automl import ModelFamily
from automl.engine.plugins import build_registry
from automl.testing import check_family, parametrize_with_checks, tiny_data

BUILT_IN = [entry.item for entry in build_registry(on_problem=lambda problem: None)
            .models.values() if entry.plugin in ("sklearn", "boosting", "flax", "text")]


@parametrize_with_checks(BUILT_IN)
def test_built_in_family_conforms(family, check):
    check(family)


def test_the_kit_covers_every_built_in_family():
    import importlib.util
    catboost = importlib.util.find_spec("catboost") is not None  # the extra
    assert len(BUILT_IN) == 22 + catboost
    assert {"mlp", "cnn", "rnn", "random_forest", "lightgbm", "xgboost", "tfidf_logistic",
            "text_transformer", "minilm_finetuned"} <= {family.name for family in BUILT_IN}


class Careless:
    """An estimator that breaks several rules: fit returns None, and predictions vary from
    one fit to the next whatever the seed."""

    def get_params(self, deep=True):
        return {}

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return None

    def predict(self, X):
        return np.random.default_rng().choice(self.classes_, size=len(X))


CARELESS = ModelFamily("careless", "classical", frozenset({"classification"}),
                       frozenset({"tabular"}), lambda trial, info: {
                           "c": trial.suggest_float("c", 0.1, 1.0)},
                       lambda params, info, seed, device: Careless())


def test_the_kit_names_each_rule_a_careless_family_breaks():
    with pytest.raises(AssertionError) as caught:
        check_family(CARELESS)
    report = str(caught.value)
    assert "family 'careless' fails 3 of 10 checks" in report
    assert "check_fit_returns_the_estimator: AssertionError: fit returned None" in report
    assert "check_same_seed_same_predictions" in report
    assert ("the saved model holds test_conformance.Careless: declare it in the family's "
            "saved_types") in report


def test_tiny_data_is_learnable_and_shaped_per_input_kind():
    data = tiny_data("image", "classification")
    assert data.train.X.shape == (40, 8, 8, 1) and data.test.X.shape == (20, 8, 8, 1)
    assert set(data.train.y) == {0, 1, 2} and data.info.n_classes == 3
