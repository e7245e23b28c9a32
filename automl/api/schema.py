"""Declared options for TOML tables: types, defaults, ranges and documentation in one place.

The task file's keys and every dataset loader's own keys are declared as `Option`s. The
same declarations validate user input (with errors that name file, line and key) and
generate the reference in docs/task-file.md, so the documentation cannot drift from the
code (a test checks it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from automl.api.errors import TaskFileError, did_you_mean

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
"""What a registered name (model family, dataset loader, metric) must look like."""



def name_problems(name: object) -> list[str]:
    """The problem with a registered name, if any, as a list for `problems()` methods."""
    if isinstance(name, str) and NAME_PATTERN.match(name):
        return []
    return [f"name {name!r} must match {NAME_PATTERN.pattern}"]


REQUIRED = object()
"""Default of an option the user must give."""

_TOML_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
                    list: "a list", dict: "a table"}


def _number(value: float) -> str:
    """A bound as a reader writes it: integers whole (2147483647, not 2.14748e+09)."""
    return str(value) if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True)
class Option:
    """One key of a TOML table.

    `type` is the Python type the value must have after reading (an int is accepted where a
    float is expected); `items` is the element type of a list. `choices`, `minimum` and
    `maximum` restrict the value (each item of a list); `default` is used when the key is
    absent (None means the key is optional with no value; `REQUIRED` means the user must
    give it).
    """

    type: type
    doc: str
    default: Any = None
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    items: type | None = None

    def expected(self) -> str:
        """What a valid value looks like, in words."""
        if self.choices:
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        text = _TOML_TYPE_NAMES[self.type]
        if self.type is list and self.items:
            text = f"a list of {_TOML_TYPE_NAMES[self.items].split(' ', 1)[1]}s"
        low = ">" if self.exclusive_minimum else ">="
        high = "<" if self.exclusive_maximum else "<="
        if self.minimum is not None and self.maximum is not None:
            text += f" {low} {_number(self.minimum)} and {high} {_number(self.maximum)}"
        elif self.minimum is not None:
            text += f" {low} {_number(self.minimum)}"
        elif self.maximum is not None:
            text += f" {high} {_number(self.maximum)}"
        return text

    def accepts(self, value: Any) -> bool:
        if not _is_type(value, self.type):
            return False
        if self.type is list and self.items:
            return all(_is_type(item, self.items) and self._in_range(item) for item in value)
        return self._in_range(value)

    def _in_range(self, value: Any) -> bool:
        """Whether a scalar (or a list's item) is among the choices and within bounds."""
        if self.choices and value not in self.choices:
            return False
        if self.minimum is not None:
            if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
                return False
        if self.maximum is not None:
            if value > self.maximum or (self.exclusive_maximum and value == self.maximum):
                return False
        return True


def _is_type(value: Any, expected: type) -> bool:
    if isinstance(value, bool):  # bool is an int in Python, never in TOML
        return expected is bool
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


class Source:
    """A TOML file's path and text, to point errors at the line that holds a key."""

    def __init__(self, path, text: str):
        self.path = path
        self.text = text

    def line_of(self, dotted_key: str) -> int | None:
        """Line number (1-based) where `dotted_key` (e.g. "search.n_trials") is set."""
        *tables, key = dotted_key.split(".")
        table = ".".join(tables)
        current = ""
        key_pattern = re.compile(rf'^\s*("?){re.escape(key)}\1\s*=')
        header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
        for number, line in enumerate(self.text.splitlines(), start=1):
            match = header.match(line)
            if match:
                current = match.group(1).replace('"', "").replace(" ", "")
                if current == dotted_key:
                    return number
                continue
            if current == table and key_pattern.match(line):
                return number
        return None

    def error(self, key: str, problem: str, **details) -> TaskFileError:
        """A TaskFileError for `key` of this file, with its line when it can be found."""
        return TaskFileError(problem, where=self.path, line=self.line_of(key), key=key, **details)


def validate_table(
    table: Mapping[str, Any],
    options: Mapping[str, Option],
    source: Source,
    prefix: str = "",
    *,
    extra_keys: Callable[[str], bool] = lambda key: False,
    also_known: Collection[str] = (),
    no_keys_hint: str = "",
) -> dict[str, Any]:
    """Check a table against its declared options and return it with defaults filled in.

    Unknown keys are errors with a did-you-mean hint (among the options and `also_known`),
    unless `extra_keys(key)` accepts them (they are then returned untouched for the caller
    to check). `no_keys_hint` completes the error's hint where the table declares no keys.
    """
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = prefix + key
        option = options.get(key)
        if option is None:
            if extra_keys(key):
                values[key] = value
                continue
            known = [*options, *also_known]
            raise source.error(dotted, "unknown key", hint=did_you_mean(key, known) or (
                "known keys here: " + ", ".join(sorted(known)) if known else
                f"no keys are declared here{no_keys_hint}"))
        if not option.accepts(value):
            hint = None
            if option.choices and isinstance(value, str):
                hint = did_you_mean(value, option.choices)
            raise source.error(dotted, "invalid value", expected=option.expected(),
                               found=value, hint=hint)
        values[key] = float(value) if option.type is float else value
    for key, option in options.items():
        if key in values:
            continue
        if option.default is REQUIRED:
            raise source.error(prefix + key, "missing required key",
                               expected=option.expected())
        values[key] = option.default
    return values


def document(options: Mapping[str, Option], prefix: str = "") -> str:
    """A Markdown table describing `options`, for the reference docs."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, option in options.items():
        if option.default is REQUIRED:
            default = "required"
        elif option.default is None:
            default = "(none)"
        else:
            default = f"`{option.default!r}`".replace("'", '"')
        rows.append(f"| `{prefix}{key}` | {option.expected()} | {default} | {option.doc} |")
    return "\n".join(rows)
