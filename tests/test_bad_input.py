"""More bad input through the real command line: unreadable and inconsistent data files,
bad options. Each exits 2 with one message naming what is wrong and where, no traceback,
and leaves what an earlier run wrote untouched."""

import json
import os

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


def small_images(root, names=("a", "b")):
    for name in names:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(3):
            Image.fromarray(np.full((6, 5), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")


def test_an_image_with_too_many_pixels_is_refused_before_it_is_decoded(write_task, tmp_path):
    """20,000 x 20,000 pixels (a 48 kB PNG, 400 MB once decoded, past Pillow's own bomb
    limit): refused from its header, naming the file and the limit."""
    small_images(tmp_path / "images")
    Image.new("1", (20_000, 20_000)).save(tmp_path / "images" / "a" / "huge.png")
    result = run_cli(str(data_task(write_task, "images")))
    assert_refused(result, "huge.png: the image has 20,000 x 20,000 pixels, more than the "
                   "limit of 40,000,000", "hint: raise [dataset] max_pixels")


def test_a_lower_pixel_limit_is_the_user_s_to_set(write_task, tmp_path):
    small_images(tmp_path / "images")
    result = run_cli(str(data_task(write_task, "images", "max_pixels = 20\n")))
    assert_refused(result, "the image has 5 x 6 pixels, more than the limit of 20")


def texts(root):
    for name, words in (("pos", "good fine great"), ("neg", "bad awful poor")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, word in enumerate(words.split()):
            (root / name / f"{i}.txt").write_text(f"{word} text number {i}")


@pytest.mark.parametrize("special", ["link to /dev/zero", "fifo", "link out of the folder"])
def test_a_text_folder_with_a_special_file_is_refused_without_reading_it(
        special, write_task, tmp_path):
    """A link to /dev/zero would fill memory, a FIFO would block forever: both are
    refused from the file's status, as is a link that leaves the data folder."""
    texts(tmp_path / "texts")
    odd = tmp_path / "texts" / "pos" / "odd.txt"
    if special == "fifo":
        os.mkfifo(odd)
        fragments = ["odd.txt: the path is not a regular file"]
    else:
        target = "/dev/zero" if special == "link to /dev/zero" else tmp_path / "secret.txt"
        (tmp_path / "secret.txt").write_text("not the user's to share")
        odd.symlink_to(target)
        fragments = ["odd.txt: the file is a link to", "which leaves the data folder"]
    task = write_task('[dataset]\nname = "text_folder"\npath = "texts"\n[families]\n'
                      'include = ["tfidf_logistic"]\n[search]\nn_trials = 1\ncv_folds = 2\n')
    result = run_cli(str(task))
    assert_refused(result, *fragments)


def test_a_text_longer_than_its_limit_is_refused(write_task, tmp_path):
    texts(tmp_path / "texts")
    task = write_task('[dataset]\nname = "text_folder"\npath = "texts"\nmax_text_chars = 10\n'
                      '[families]\ninclude = ["tfidf_logistic"]\n')
    result = run_cli(str(task))
    assert_refused(result, "characters, more than the limit of 10",
                   "hint: raise [dataset] max_text_chars")


def test_a_table_larger_than_its_limit_is_refused(write_task, tmp_path):
    rows = "\n".join(f"{i},{i % 2}" for i in range(2000))
    (tmp_path / "big.csv").write_text("x,target\n" + rows)
    result = run_cli(str(data_task(write_task, "big.csv", "max_file_mb = 0.01\n")))
    assert_refused(result, "big.csv: the file has 0.0123 MB, more than the limit of 0.01 MB",
                   "hint: raise [dataset] max_file_mb")


NAIVE_BAYES = ('[dataset]\nname = "wine"\n[families]\ninclude = ["naive_bayes"]\n'
               '[search]\nn_trials = 2\ncv_folds = 2\n[report]\nlearning_curve = []\n')


def test_a_folder_holding_other_files_is_not_written_into(write_task, tmp_path):
    """An existing folder the engine did not make (here a home-like folder of notes, as
    `dir = ".."` or an absolute path can name) is refused, its files untouched, unless
    the task says other_files = true; then only the engine's own files are written."""
    home = tmp_path / "home"
    (home / "plots").mkdir(parents=True)
    (home / "notes.txt").write_text("mine")
    (home / "plots" / "holiday.svg").write_text("<svg/>")
    task = write_task(NAIVE_BAYES + f'[output]\ndir = "{home.as_posix()}"\n')
    assert_refused(run_cli(str(task)), "the output folder holds 2 files the engine did not "
                   "write (such as notes.txt)", "hint: choose a new folder, or set [output] "
                   "other_files = true")
    assert sorted(p.name for p in home.rglob("*")) == ["holiday.svg", "notes.txt", "plots"]
    task.write_text(task.read_text() + "other_files = true\n")
    assert run_cli(str(task), "--quiet").returncode == 0
    assert (home / "notes.txt").read_text() == "mine"
    assert (home / "plots" / "holiday.svg").read_text() == "<svg/>"  # not the engine's
    written = json.loads((home / ".automl-files.json").read_text())["files"]
    assert "index.html" in written and "notes.txt" not in written
    assert any(name.startswith("plots/") for name in written)
    again = run_cli("report", str(home))  # a rebuild deletes only plots it wrote
    assert again.returncode == 0, again.stderr
    assert (home / "plots" / "holiday.svg").exists()


@pytest.mark.parametrize("damage", ["not json", "wrong types", "missing keys"])
def test_a_damaged_run_json_is_a_clear_error_in_report_and_predict(damage, write_task,
                                                                     tmp_path):
    task = write_task(NAIVE_BAYES)
    assert run_cli(str(task), "--quiet").returncode == 0
    run = tmp_path / "out" / "run.json"
    summary = json.loads(run.read_text())
    run.write_text({"not json": "{ this is not json",
                    "wrong types": json.dumps({**summary, "dataset": [1, 2]}),
                    "missing keys": json.dumps({"task": "x"})}[damage])
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    for command in (["report", str(tmp_path / "out")],
                    ["predict", str(tmp_path / "out"), str(rows)]):
        assert_refused(run_cli(*command), "run.json: run.json is damaged")


def test_a_seed_past_what_the_libraries_take_is_refused(write_task):
    task = write_task('seed = 99999999999999999999999\n[dataset]\nname = "iris"\n')
    assert_refused(run_cli(str(task)), "key 'seed'", "expected an integer >= 0 and <= "
                   "2147483647", "found 99999999999999999999999")


def test_a_run_folder_from_before_the_manifest_is_still_the_engine_s(tmp_path):
    from automl.engine.outputs import MANIFEST, claim_folder
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "leaderboard.csv").write_text("family\n")
    assert claim_folder(tmp_path) == tmp_path and (tmp_path / MANIFEST).is_file()


def test_a_manifest_another_worker_is_writing_is_not_someone_elses_file(tmp_path):
    """Two workers claim a new folder at once: one's half-written manifest
    (``.automl-files.json.<pid>``, replaced a moment later) was read by the other as a file
    the engine did not write, and the second worker refused the folder (a CI run's
    PostgreSQL workers test failed so)."""
    from automl.api.errors import AutomlError
    from automl.engine.outputs import MANIFEST, claim_folder
    (tmp_path / f"{MANIFEST}.12345").write_text('{"files": []}')
    assert claim_folder(tmp_path) == tmp_path and (tmp_path / MANIFEST).is_file()
    (tmp_path / MANIFEST).unlink()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AutomlError, match=r"holds 1 files .* \(such as notes.txt\)"):
        claim_folder(tmp_path)
