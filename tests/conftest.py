"""Shared fixtures: the real plugin registry, and task files written to a temp folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from automl.engine.plugins import build_registry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def registry():
    """The registry built from the installed entry points, as the CLI builds it."""
    return build_registry()


@pytest.fixture
def write_task(tmp_path):
    """Write a task file into tmp_path; its output goes to tmp_path/out."""
    def write(text: str, name: str = "task.toml") -> Path:
        text = textwrap.dedent(text)
        if "[output]" not in text:
            text += f'\n[output]\ndir = "{(tmp_path / "out").as_posix()}"\n'
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


@pytest.fixture
def run_written(write_task, registry):
    """Write a task file (as `write_task`) and run it in this process; its output
    folder."""
    def run(text: str) -> Path:
        from automl.engine.run import run_task
        from automl.engine.task import load_task
        task = load_task(write_task(text))
        run_task(task, registry)
        return task.output_dir
    return run


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run `python -m automl ARGS` in a real subprocess."""
    return subprocess.run([sys.executable, "-m", "automl", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, env=env, timeout=600)
