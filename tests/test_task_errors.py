"""Bad task files and bad data stop the run with one clear message, exit 2, no traceback."""

import numpy as np
import pytest

from automl.api.errors import TaskFileError
from automl.cli import main
from automl.engine.task import load_task


def run_main(path, capsys):
    status = main([str(path)])
    captured = capsys.readouterr()
    return status, captured.err


def assert_clear_error(path, capsys, *fragments, where=None):
    """Exit 2 and one message naming `where` (default: the task file) and `fragments`."""
    status, err = run_main(path, capsys)
    assert status == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert f"error: {where or path}" in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


def test_toml_syntax_error_names_file_and_line(write_task, capsys):
    path = write_task('name = "x"\n[dataset\nname = "digits"\n')
    assert_clear_error(path, capsys, "line 2", "not valid TOML")


def test_unknown_key_suggests_the_closest(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[search]\nn_trails = 5\n')
    assert_clear_error(path, capsys, "line 4", "key 'search.n_trails'", "unknown key",
                       "did you mean 'n_trials'?")


def test_unknown_section_is_rejected(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[serach]\nn_trials = 5\n')
    assert_clear_error(path, capsys, "key 'serach'", "did you mean 'search'?")


def test_wrong_type_says_expected_and_found(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[search]\nn_trials = "ten"\n')
    assert_clear_error(path, capsys, "line 4", "key 'search.n_trials'",
                       "expected an integer >= 1", 'found "ten" (a string)')


def test_out_of_range_value(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\ntest_size = 1.5\n')
    assert_clear_error(path, capsys, "line 3", "key 'dataset.test_size'",
                       "expected a number > 0 and < 1", "found 1.5")


def test_a_population_of_no_trials_is_refused(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[search]\npopulation = 0\n')
    assert_clear_error(path, capsys, "line 4", "key 'search.population'",
                       "expected an integer >= 1 and <= 64", "found 0")


def test_one_report_seed_is_refused(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[report]\nseeds = 1\n')
    assert_clear_error(path, capsys, "key 'report.seeds'", "one seed gives no interval",
                       "expected 0 (no comparison) or at least 2", "found 1")


def test_bad_choice_suggests_the_closest(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[search]\nsampler = "tpee"\n')
    assert_clear_error(path, capsys, "key 'search.sampler'", "did you mean 'tpe'?")


def test_unknown_family_suggests_the_closest(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[families]\ninclude = ["random_forrest"]\n')
    assert_clear_error(path, capsys, "line 4", "unknown model family 'random_forrest'",
                       "did you mean 'random_forest'?")


def test_unknown_dataset_suggests_the_closest(write_task, capsys):
    path = write_task('[dataset]\nname = "digit"\n')
    assert_clear_error(path, capsys, "key 'dataset.name'", "unknown dataset 'digit'",
                       "'digits'")


def test_unknown_metric(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[metrics]\noptimize = "acuracy"\n')
    assert_clear_error(path, capsys, "unknown metric 'acuracy'", "did you mean 'accuracy'?")


def test_metric_of_the_wrong_task_type(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[metrics]\noptimize = "r2"\n')
    assert_clear_error(path, capsys, "metric 'r2' does not apply to classification")


def test_missing_dataset(write_task, capsys):
    path = write_task('seed = 1\n')
    assert_clear_error(path, capsys, "missing dataset")


def test_missing_data_file(write_task, capsys):
    path = write_task('[dataset]\npath = "no_such.csv"\ntarget = "y"\n')
    assert_clear_error(path, capsys, "line 2", "key 'dataset.path'", "data file not found",
                       "no_such.csv")


def test_missing_target_column(write_task, tmp_path, capsys):
    (tmp_path / "data.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    path = write_task('[dataset]\npath = "data.csv"\ntarget = "lable"\n')
    assert_clear_error(path, capsys, "no target column 'lable'", "did you mean 'label'?",
                       where=tmp_path / "data.csv")


def test_loader_option_that_the_loader_does_not_take(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\ntarget = "y"\n')
    assert_clear_error(path, capsys, "key 'dataset.target'", "unknown key",
                       "no keys are declared here: the dataset loader 'digits' declares "
                       "no [dataset] keys")


def test_more_folds_than_the_rarest_class(write_task, tmp_path, capsys):
    rows = ["a,label"] + [f"{i % 9},{'rare' if i < 4 else 'common'}" for i in range(40)]
    (tmp_path / "data.csv").write_text("\n".join(rows))
    path = write_task('[dataset]\npath = "data.csv"\ntarget = "label"\ntest_size = 0.25\n'
                      '[search]\ncv_folds = 5\n')
    assert_clear_error(path, capsys, "key 'search.cv_folds'",
                       "more CV folds than training samples of the rarest class",
                       "expected at most 3 folds", "found 5")


def test_blank_features_are_taken(write_task, tmp_path, registry):
    """Blanks are allowed in any feature column (the families' encoders impute them);
    an infinite value is still an error."""
    from automl.engine.run import load_dataset
    from automl.engine.task import load_task
    (tmp_path / "data.csv").write_text("a,b,label\n1,,x\n3,4,y\n5,6,x\n7,8,y\n9,1,y\n")
    path = write_task('[dataset]\npath = "data.csv"\ntarget = "label"\ntest_size = 0.4\n')
    data = load_dataset(load_task(path), registry)
    blanks = data.train.X["b"].isna().sum() + data.test.X["b"].isna().sum()
    assert blanks == 1 and list(data.train.X.columns) == ["a", "b"]


def test_a_target_with_one_class_is_rejected(write_task, tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(20, 3))
    np.savez(tmp_path / "one.npz", X=X, y=np.zeros(20, dtype=int))
    path = write_task('[dataset]\npath = "one.npz"\n')
    assert_clear_error(path, capsys, "needs at least two classes", where=tmp_path / "one.npz")


def test_family_included_and_excluded(write_task, capsys):
    path = write_task('[dataset]\nname = "digits"\n[families]\ninclude = ["knn"]\n'
                      'exclude = ["knn"]\n')
    assert_clear_error(path, capsys, "both included and excluded")


def test_task_file_not_found(tmp_path, capsys):
    status, err = run_main(tmp_path / "nope.toml", capsys)
    assert status == 2 and "task file not found" in err and "nope.toml" in err


def test_a_valid_task_fills_in_defaults(write_task):
    task = load_task(write_task('[dataset]\nname = "wine"\n[families.knn]\nn_trials = 3\n'))
    assert task.name == "task" and task.seed == 0 and task.cv_folds is None  # by rows
    assert task.sampler == "tpe" and task.pruner == "median"
    assert task.population is None  # by device
    assert task.budget_for("knn").n_trials == 3
    assert task.budget_for("rbf_svm").n_trials == 20


def test_per_family_budget_values_are_checked(write_task):
    with pytest.raises(TaskFileError, match="families.knn.n_trials"):
        load_task(write_task('[dataset]\nname = "wine"\n[families.knn]\nn_trials = 0\n'))


def test_a_device_that_is_not_there_is_an_error_not_a_fall_back(write_task, capsys):
    path = write_task('device = "gpu"\n[dataset]\nname = "wine"\n')
    assert_clear_error(path, capsys, "line 1", "key 'device'", "device 'gpu' is not available",
                       "cpu (1 device)")


def test_the_device_option_is_checked_too(write_task, capsys):
    path = write_task('[dataset]\nname = "wine"\n[families]\ninclude = ["mlp"]\n')
    status = main([str(path), "--device", "tpu"])
    err = capsys.readouterr().err
    assert status == 2 and "key '--device': device 'tpu' is not available" in err


def test_an_unknown_device_name(write_task, capsys):
    path = write_task('device = "cuda"\n[dataset]\nname = "wine"\n')
    assert_clear_error(path, capsys, "key 'device'", 'one of "auto", "cpu", "gpu", "tpu"',
                       'found "cuda"')
