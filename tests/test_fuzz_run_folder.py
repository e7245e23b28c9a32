"""A run folder is data: mutated at random (run.json, the tables, each saved model, the
examples, the task copy), `report` and `predict` either work or exit 2 with a message
naming what is wrong, never a traceback. 200 seeded mutations."""

import contextlib
import io
import json
import shutil

import numpy as np
import palmerpenguins
import pytest
from conftest import run_cli

from automl.cli import main

MUTATIONS = 200
TASK = """name = "fuzz"
[dataset]
name = "penguins"
target = "species"
[families]
include = ["naive_bayes", "lightgbm", "mlp"]
[search]
n_trials = 1
cv_folds = 2
[report]
seeds = 0
learning_curve = []
"""


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    task = folder / "task.toml"
    task.write_text(TASK + f'[output]\ndir = "{(folder / "out").as_posix()}"\n')
    result = run_cli(str(task), "--quiet")
    assert result.returncode == 0, result.stderr
    rows = folder / "rows.csv"
    palmerpenguins.load_penguins().drop(columns="species").head(20).to_csv(rows, index=False)
    return folder / "out", rows


def mutate(path, rng: np.random.Generator) -> str:
    """One random damage to the file at `path`; says which."""
    data = bytearray(path.read_bytes())
    how = rng.choice(["flip bytes", "truncate", "empty", "json value", "drop a line",
                      "other file"])
    if how == "json value" and path.suffix == ".json":
        value = json.loads(data)
        key = rng.choice(sorted(value))
        value[key] = [None, "x", -1, 1e308, [], {}, True][rng.integers(7)]
        path.write_text(json.dumps(value))
    elif how == "drop a line" and path.suffix in (".csv", ".toml"):
        lines = data.decode(errors="replace").splitlines(keepends=True)
        del lines[rng.integers(len(lines))]
        path.write_text("".join(lines))
    elif how == "truncate":
        path.write_bytes(data[:rng.integers(len(data) + 1)])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "other file":
        path.write_bytes(bytes(rng.integers(0, 256, size=200, dtype=np.uint8)))
    else:
        for index in rng.integers(0, max(1, len(data)), size=rng.integers(1, 20)):
            data[index % max(1, len(data))] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(data))
    return how


def cli(*args) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(args))
    return code, err.getvalue()


def test_report_and_predict_refuse_a_damaged_folder_clearly(run_folder, tmp_path):
    pristine, rows = run_folder
    targets = sorted(p.relative_to(pristine) for p in pristine.rglob("*") if p.is_file()
                     and p.suffix in (".json", ".csv", ".skops", ".msgpack", ".npz", ".toml")
                     and p.name != ".automl-files.json")
    assert {"run.json", "leaderboard.csv", "models/mlp.msgpack",
            "models/naive_bayes.skops"} <= {p.as_posix() for p in targets}
    rng = np.random.default_rng(0)
    outcomes = {}
    for number in range(MUTATIONS):
        folder = tmp_path / f"m{number}"
        shutil.copytree(pristine, folder)
        target = targets[rng.integers(len(targets))]
        how = mutate(folder / target, rng)
        for command in (["report", str(folder)],
                        ["predict", str(folder), str(rows), "--out", str(tmp_path / "p.csv")]):
            code, err = cli(*command)
            assert code in (0, 2) and "Traceback" not in err, (target, how, command, err)
            if code == 2:  # one line says what is wrong (a section may have warned first)
                assert sum(line.startswith("error: ") for line in err.splitlines()) == 1, err
            outcomes[code] = outcomes.get(code, 0) + 1
        shutil.rmtree(folder)
    assert outcomes.get(2, 0) > 0 and outcomes.get(0, 0) > 0  # both refused and read
