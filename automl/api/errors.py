"""Errors a user can act on.

Every error raised for bad input (a task file, a data file, a plugin) is an `AutomlError`.
The command line prints it as one message and exits with status 2, without a traceback.
The message names where the problem is, what was expected, what was found and, when the
found value looks like a misspelling of a known name, what was probably meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class AutomlError(Exception):
    """A problem with the user's input, reported without a traceback: ``error: <where>:
    <problem>`` with what was expected, what was found and a hint, and exit status 2.

    ``AutomlError(problem, where=path, line=n, key="dataset.path", expected="...",
    found=value, hint="...")``; every argument but `problem` is optional."""

    def __init__(
        self,
        problem: str,
        *,
        where: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
        expected: str | None = None,
        found: object = None,
        hint: str | None = None,
    ):
        self.problem = problem
        self.where = str(where) if where is not None else None
        self.line = line
        self.key = key
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(self.message())

    def message(self) -> str:
        place = self.where or ""
        if self.line is not None:
            place += f", line {self.line}"
        if self.key:
            place += f", key '{self.key}'" if place else f"key '{self.key}'"
        text = f"{place}: {self.problem}" if place else self.problem
        if self.expected is not None:
            text += f"; expected {self.expected}"
        if self.found is not None:
            text += f"{',' if self.expected is not None else ';'} found {describe(self.found)}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class TaskFileError(AutomlError):
    """The task file cannot be read or does not describe a valid task."""


class DataError(AutomlError):
    """The dataset cannot be loaded or is not usable for the task: what a loader raises
    (``automl.DataError``, also ``automl.api.errors.DataError``), with the arguments of
    `AutomlError`."""


class PluginError(AutomlError):
    """A plugin is broken or conflicts with another plugin."""


def describe(value: object) -> str:
    """Show a found value with its TOML type, e.g. ``"ten" (a string)``."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    kind = kinds.get(type(value))
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{shown} ({kind})" if kind else shown


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """A hint naming the closest known names to a misspelt one, or None."""
    close = difflib.get_close_matches(word, list(known), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{name}'" for name in close) + "?"
