"""More bad input through the real command line: unreadable and inconsistent data files,
bad options. Each exits 2 with one message naming what is wrong and where, no traceback,
and leaves what an earlier run wrote untouched."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from PIL import Image


def assert_refused(result, *fragments):
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"


def data_task(write_task, path, extra=""):
    return write_task(f'[dataset]\npath = "{path}"\n{extra}[families]\n'
                      'include = ["naive_bayes"]\n[search]\nn_trials = 2\ncv_folds = 2\n')


def test_an_unreadable_parquet_file(write_task, tmp_path):
    (tmp_path / "data.parquet").write_text("this is not parquet")
    result = run_cli(str(data_task(write_task, "data.parquet")))
    assert_refused(result, f"error: {tmp_path / 'data.parquet'}: cannot read the file")


def test_a_csv_that_is_not_text(write_task, tmp_path):
    (tmp_path / "data.csv").write_bytes(bytes(range(256)) * 4)
    result = run_cli(str(data_task(write_task, "data.csv")))
    assert_refused(result, f"{tmp_path / 'data.csv'}: cannot read the file")


def test_labels_not_in_the_declared_classes(write_task, tmp_path):
    rows = ["a,label"] + [f"{i},{label}" for i, label in enumerate(["cat", "dog"] * 5)]
    rows.append("11,cow")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    task = data_task(write_task, "data.csv", 'target = "label"\nclasses = ["cat", "dog"]\n')
    result = run_cli(str(task))
    assert_refused(result, "the target column 'label' has labels not in [dataset] classes",
                   "expected one of cat, dog", "found \"'cow' in data row 11")


def test_declared_classes_work_and_name_the_report(write_task, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60)})
    frame["label"] = np.where(frame["a"] > 0, "high", "low")
    frame.to_csv(tmp_path / "data.csv", index=False)
    task = data_task(write_task, "data.csv", 'target = "label"\nclasses = ["low", "high"]\n')
    result = run_cli(str(task), "--quiet")
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["dataset"]["class_names"] == ["low", "high"]  # declared order, not sorted


def test_images_of_mixed_sizes(write_task, tmp_path):
    for i, size in enumerate([(6, 5), (6, 5), (7, 5)]):
        folder = tmp_path / "images" / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros(size, dtype=np.uint8)).save(folder / f"{i}.png")
    result = run_cli(str(data_task(write_task, "images")))
    assert_refused(result, "2.png: images differ in size", "expected (6, 5) like",
                   "found (7, 5)", "hint: resize them to one size first")


def test_sequences_of_mixed_lengths(write_task, tmp_path):
    ragged = np.empty(20, dtype=object)
    for i in range(20):
        ragged[i] = np.zeros((30 + i % 3, 1))
    np.savez(tmp_path / "seq.npz", X=ragged, y=np.arange(20) % 2)
    result = run_cli(str(data_task(write_task, "seq.npz")))
    assert_refused(result, f"{tmp_path / 'seq.npz'}: X is an array of Python objects",
                   "every sequence of one length", "hint: pad or crop them")


@pytest.mark.parametrize(("url", "fragments"), [
    ("mysqlx://nobody@127.0.0.1/db", ["cannot open the storage mysqlx://nobody@127.0.0.1/db",
                                      "expected a database URL"]),
    ("postgresql://someone:hunter2@127.0.0.1:1/db",
     ["cannot open the storage postgresql://someone:***@127.0.0.1:1/db", "OperationalError"]),
], ids=["unknown-scheme", "unreachable-server"])
def test_a_bad_storage_url(write_task, url, fragments):
    task = write_task('[dataset]\nname = "wine"\n[families]\ninclude = ["naive_bayes"]\n')
    result = run_cli(str(task), "--storage", url)
    assert_refused(result, *fragments)
    assert "hunter2" not in result.stderr  # the password never reaches the terminal


def test_an_output_folder_that_cannot_be_written(write_task, tmp_path):
    (tmp_path / "taken").write_text("a file where the output folder should go")
    task = write_task('[dataset]\nname = "wine"\n[output]\ndir = "'
                      + (tmp_path / "taken" / "out").as_posix() + '"\n')
    result = run_cli(str(task))
    assert_refused(result, "key 'output.dir': cannot write to the output folder")


def test_jobs_below_one(write_task):
    task = write_task('[dataset]\nname = "wine"\n')
    assert_refused(run_cli(str(task), "--jobs", "0"), "key '--jobs': --jobs must be at least 1")


def test_a_failed_run_leaves_an_earlier_run_untouched(write_task, tmp_path):
    task = write_task('[dataset]\nname = "wine"\n[families]\ninclude = ["naive_bayes"]\n'
                      '[search]\nn_trials = 2\ncv_folds = 2\n[report]\nlearning_curve = []\n')
    assert run_cli(str(task), "--quiet").returncode == 0
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    broken = task.read_text().replace('include = ["naive_bayes"]', 'include = ["naive_bayse"]')
    task.write_text(broken)
    assert_refused(run_cli(str(task)), "unknown model family 'naive_bayse'")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
