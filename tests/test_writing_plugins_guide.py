"""docs/writing-plugins.md works as written: its code blocks, saved as the files it names,
make a package that installs, is listed, is compared in its task and passes the kit."""

import os
import re
import subprocess
import sys

import pandas as pd
from conftest import REPO, run_cli

GUIDE = REPO / "docs" / "writing-plugins.md"


def guide_block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)
    matching = [block for block in blocks if containing in block]
    assert len(matching) == 1, f"the guide should have one {language} block with {containing}"
    return matching[0]


def test_the_guide_builds_a_plugin_that_is_found_compared_and_conformant(tmp_path):
    package = tmp_path / "automl-discriminant"
    module = package / "src" / "automl_discriminant"
    module.mkdir(parents=True)
    (package / "tests").mkdir()
    (package / "pyproject.toml").write_text(guide_block("toml", "[project.entry-points"))
    (module / "__init__.py").write_text(guide_block("python", "def automl_register_models"))
    (package / "tests" / "test_discriminant.py").write_text(
        guide_block("python", "parametrize_with_checks"))
    site = tmp_path / "site-packages"
    install = subprocess.run(  # the guide's `pip install -e`, kept out of the test session
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(package)],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    env = dict(os.environ, PYTHONPATH=str(site))

    listing = run_cli("plugins", env=env)
    assert ("discriminant (automl-discriminant 0.1.0, automl_discriminant)\n"
            "  models: discriminant_analysis\n") in listing.stdout

    task = tmp_path / "my_task.toml"
    task.write_text(guide_block("toml", "[dataset]")
                    + f'\n[output]\ndir = "{(tmp_path / "out").as_posix()}"\n')
    run = run_cli(str(task), "--strict", env=env)
    assert run.returncode == 0, run.stderr
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("family")
    assert set(board.index) - {"ensemble"} == {"discriminant_analysis", "naive_bayes"}
    assert board.loc["discriminant_analysis", "test_accuracy"] >= 0.9

    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(package / "tests")], capture_output=True, text=True, env=env,
                           cwd=package, timeout=300)
    assert tests.returncode == 0 and "10 passed" in tests.stdout, tests.stdout[-3000:]
