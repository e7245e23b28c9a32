"""Generates the references from the code, so they cannot drift from it (tests compare):

    python -m automl.docs > docs/task-file.md          from the declared task-file options
    python -m automl.docs hooks > docs/hooks.md        from automl/api/hookspecs.py and the
                                                       types plugins register
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
from types import ModuleType

import automl
from automl import testing
from automl.api import hookspecs
from automl.api.schema import document
from automl.engine.plugins import HOOK_NAMES, Registry, build_registry
from automl.engine.task import FAMILY_BUDGET, SECTIONS, TOP_LEVEL

INTRO = """\
# Task file reference

A task file is TOML. It names a dataset, the metric to optimise, the model families to
compare and the search budget; every key has a default except the dataset. Relative data
paths are resolved against the task file's folder.

```toml
name = "digits"
seed = 0

[dataset]
name = "digits"

[search]
n_trials = 25
timeout = 30
cv_folds = 5

[families]
exclude = ["naive_bayes"]

[families.random_forest]   # a budget of its own for one family
n_trials = 10
```

A mistake (a misspelt key, a value of the wrong type or out of range, an unknown family,
metric or dataset) stops the run before anything is computed, with exit status 2 and a
message naming the file, line and key, what was expected and what was found.

Running the same task again resumes its Optuna studies: finished trials count against
`n_trials` and their time against `timeout` and `total_timeout`. Changing the data, metric,
folds, seed, sampler or pruner starts new studies; changing the budget extends the old ones.

Generated from the code by `python -m automl.docs > docs/task-file.md`.
"""


def task_file_reference(registry: Registry) -> str:
    parts = [INTRO, "## Top-level keys\n", document(TOP_LEVEL)]
    for section, options in SECTIONS.items():
        parts += [f"\n## [{section}]\n", document(options, f"{section}.")]
        if section == "report":
            parts.append("\nThe analyses declare the other `[report]` keys "
                         "(`automl.Analysis.options`):\n")
            parts += [_analysis_keys(name, entry) for name, entry in registry.analyses.items()
                      if entry.item.options]
        if section == "families":
            parts += ["\nA table `[families.<family>]` sets a budget for one family:\n",
                      document(FAMILY_BUDGET, "families.<family>.")]
    parts.append("\n## Datasets and their keys\n")
    parts.append("`[dataset] name` picks one of these; for files, the loader can also be "
                 "picked by `path`'s suffix (a folder means `image_folder`).\n")
    for name, entry in registry.datasets.items():
        loader = entry.item
        parts.append(f"\n### `{name}`\n\n{loader.description} (plugin `{entry.plugin}`).")
        if loader.options:
            parts += ["", document(loader.options, "dataset.")]
    parts.append("\n## Model families\n")
    parts.append("| family | kind | tasks | plugin | what it is |\n|---|---|---|---|---|")
    for name, entry in registry.models.items():
        family = entry.item
        parts.append(f"| `{name}` | {family.kind} | {', '.join(sorted(family.task_types))} "
                     f"| `{entry.plugin}` | {family.description} |")
    parts.append("\n## Metrics\n")
    parts.append("| metric | direction | tasks | what it is |\n|---|---|---|---|")
    for name, entry in registry.metrics.items():
        metric = entry.item
        parts.append(f"| `{name}` | {metric.direction} | "
                     f"{', '.join(sorted(metric.task_types))} | {metric.description} |")
    return "\n".join(parts) + "\n"


def _analysis_keys(name: str, entry) -> str:
    analysis = entry.item
    return (f"\n### Analysis `{name}`: {analysis.title} (plugin `{entry.plugin}`)\n\n"
            + document(analysis.options, "report."))


HOOKS_INTRO = """\
# Hook reference

A plugin is a Python module (or any object) with functions named after these hooks, each
marked with `@automl.hookimpl`, exposed through an entry point in the `automl` group of
its package (see [writing-plugins.md](writing-plugins.md)). The built-in plugins use the
same hooks.

- **Keyword arguments.** The engine passes arguments by name, and an implementation may
  take any subset of them (`def automl_trial_finished(trial)` is fine): hooks can gain
  arguments without breaking older plugins. An implementation that asks for an argument
  the hook does not pass is reported and its plugin skipped.
- **Isolation.** Each plugin is imported, and each hook implementation called, on its own.
  A plugin that fails to import or misnames a hook is skipped; a registration that is
  invalid, or whose name another plugin registered first, is left out; a hook or report
  section that raises is reported and the run goes on. Each problem names the plugin and
  the reason. `python -m automl TASK --strict` stops at the first one instead (exit 2).
- **Choosing plugins.** `[plugins] allow` / `block` in the task file, or the environment
  variables `AUTOML_PLUGINS_ALLOW` / `AUTOML_PLUGINS_BLOCK` (comma-separated entry-point
  names). Built-in plugins are always allowed unless blocked.
- **Order.** Implementations are called in pluggy's order: `@automl.hookimpl(wrapper=True)`
  generators around all the others (the plugin loaded last outermost), then
  `tryfirst=True` ones, then the rest with the plugin loaded last first, `trylast=True`
  ones last. Plugins load built-in first, then third-party ones by entry-point name.
  What registration hooks register is kept in load order whatever order they ran in, and
  a name two plugins register stays with the plugin loaded first. pluggy's old-style
  `hookwrapper=True` is refused with a message (use `wrapper=True`).
- **Tracing.** `--trace-hooks` (or `AUTOML_TRACE_HOOKS=1`) prints each hook call, one line
  per implementation in call order, and its duration to stderr (pluggy's
  `add_hookcall_monitoring`).

Generated from `automl/api/hookspecs.py` by `python -m automl.docs hooks > docs/hooks.md`.
"""


REGISTERED = ("ModelFamily", "DatasetLoader", "RawData", "Metric", "ReportSection",
              "Analysis", "AnalysisContext")
"""The types of the "What plugins register" part, in this order; the other public names
follow under "Everything else in `automl`"."""


def hook_reference() -> str:
    """docs/hooks.md: every hook, the types plugins register, every other public name of
    `automl`, then the conformance checks."""
    parts = [HOOKS_INTRO, "## Hooks\n"]
    for name in HOOK_NAMES:
        hook = getattr(hookspecs, name)
        parts += [f"### `{name}{inspect.signature(hook)}`\n", inspect.getdoc(hook), ""]
    parts.append("## What plugins register\n")
    parts += [public_entry(name) for name in REGISTERED]
    parts.append("## Everything else in `automl`\n")
    parts += [public_entry(name) for name in sorted(automl.__all__, key=str.lower)
              if name not in REGISTERED]
    parts.append("## Conformance checks (`automl.testing`)\n")
    parts.append(inspect.getdoc(testing) + "\n")
    for check in testing.CHECKS:
        summary = (inspect.getdoc(check) or "").replace("\n", " ")
        parts.append(f"- `{check.__name__}`" + (f": {summary}" if summary else ""))
    return "\n".join(parts) + "\n"


class Undocumented(Exception):
    """A public name of `automl` without a docstring."""


def public_entry(name: str) -> str:
    """One public name of `automl`: a heading with its fields or signature, and its
    docstring (a class's, a function's, or the string that follows a value's assignment
    in the module that assigns it)."""
    value = getattr(automl, name)
    if inspect.isclass(value):
        doc = inspect.getdoc(value) if "__doc__" in vars(value) else None
        if dataclasses.is_dataclass(value):
            heading = f"automl.{name}({', '.join(f.name for f in dataclasses.fields(value))})"
        else:
            heading = f"automl.{name}"
        properties = [(attribute, inspect.getdoc(member)) for attribute, member
                      in vars(value).items() if not attribute.startswith("_")
                      and (isinstance(member, property) or inspect.isfunction(member))
                      and inspect.getdoc(member) and attribute != "problems"]
        if properties and doc:
            doc += "\n\n" + "\n".join(
                f"- `{_member_heading(value, attribute)}`: {' '.join(text.split())}"
                for attribute, text in properties)
    elif inspect.isfunction(value):
        heading = f"automl.{name}{inspect.signature(value)}".replace("'", "")
        doc = inspect.getdoc(value)
    else:
        heading = f"automl.{name}"
        doc = attribute_doc(automl, name) or _value_doc(value, name)
    if not doc:
        raise Undocumented(f"automl.{name} has no docstring: document it where it is "
                           "defined, then run python -m automl.docs hooks > docs/hooks.md")
    return f"### `{heading}`\n\n{doc}\n"


def _member_heading(cls: type, attribute: str) -> str:
    """``name`` for a property, ``name(arguments)`` for a method."""
    member = vars(cls)[attribute]
    if isinstance(member, property):
        return attribute
    parameters = list(inspect.signature(member).parameters.values())[1:]  # without self
    return f"{attribute}({', '.join(str(p).replace(chr(39), '') for p in parameters)})"


def _value_doc(value, name: str) -> str | None:
    """The docstring after the assignment of a re-exported value, in its own module."""
    for module in (sys.modules.get(m) for m in list(sys.modules) if m.startswith("automl.")):
        if module is not None and getattr(module, name, object()) is value:
            found = attribute_doc(module, name)
            if found:
                return found
    return None


def attribute_doc(module: ModuleType, name: str) -> str | None:
    """The string literal right after ``name = ...`` at the top level of `module`'s
    source, as Sphinx reads attribute docstrings."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return None
    body = tree.body
    for statement, following in zip(body, body[1:], strict=False):
        targets = (statement.targets if isinstance(statement, ast.Assign)
                   else [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and \
                isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) \
                and isinstance(following.value.value, str):
            return inspect.cleandoc(following.value.value)
    return None


if __name__ == "__main__":
    if sys.argv[1:] == ["hooks"]:
        print(hook_reference(), end="")
    else:
        print(task_file_reference(build_registry()), end="")
