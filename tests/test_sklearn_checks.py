"""scikit-learn's own estimator checks on the deep families' estimators (so that they clone,
validate their input, refuse unfitted use and behave in pipelines and searches as any
scikit-learn estimator does), with the exceptions that cannot apply, and why."""

from automl_plugins.deep.architectures import MLP
from automl_plugins.deep.estimator import FlaxClassifier, FlaxRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

# Small networks trained long enough to pass the checks' accuracy bars (0.83 on blobs)
# in about 35 s for both estimators on 2 cores.
SMALL = dict(network=MLP(depth=1, width=32), max_epochs=40, batch_size=32,
             learning_rate=0.01, patience=1000)

TABLES = ("a DataFrame is a table to this estimator: it goes through the TableEncoder "
          "(numbers quantile-mapped or imputed, categories embedded), so it is not fitted "
          "as the same numbers in an array")
EXCEPTIONS = {
    "check_classifier_data_not_an_array": TABLES,
    "check_regressor_data_not_an_array": TABLES,
    "check_class_weight_classifiers": (
        "class weights shape the training loss, but the epoch kept is the one with the best "
        "unweighted validation loss (early stopping), so weights of 1000 against 0.0001 do "
        "not force every prediction to the heavy class"),
}


def expected_failures(estimator) -> dict[str, str]:
    """The checks above, by name (a check that does not apply to a regressor is not run)."""
    return EXCEPTIONS


@parametrize_with_checks([FlaxClassifier(**SMALL), FlaxRegressor(**SMALL)],
                         expected_failed_checks=expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
