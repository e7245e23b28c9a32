"""Generates the references from the code, so they cannot drift from it (tests compare):

    python -m automl.docs > docs/task-file.md          from the declared task-file options
    python -m automl.docs hooks > docs/hooks.md        from automl/hookspecs.py and the
                                                       types plugins register
"""

from __future__ import annotations

import inspect
import sys

from automl import hookspecs, testing
from automl.datasets import DatasetLoader, RawData
from automl.metrics import Metric
from automl.models import ModelFamily
from automl.plugins import HOOK_NAMES, Registry, build_registry
from automl.schema import document
from automl.sections import ReportSection
from automl.task import FAMILY_BUDGET, SECTIONS, TOP_LEVEL

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
- **Tracing.** `--trace-hooks` (or `AUTOML_TRACE_HOOKS=1`) prints each hook call with its
  plugin and duration to stderr.

Generated from `automl/hookspecs.py` by `python -m automl.docs hooks > docs/hooks.md`.
"""


def hook_reference() -> str:
    """docs/hooks.md: every hook, then every type a plugin registers, then the
    conformance checks."""
    parts = [HOOKS_INTRO, "## Hooks\n"]
    for name in HOOK_NAMES:
        hook = getattr(hookspecs, name)
        parts += [f"### `{name}{inspect.signature(hook)}`\n", inspect.getdoc(hook), ""]
    parts.append("## What plugins register\n")
    for kind in (ModelFamily, DatasetLoader, RawData, Metric, ReportSection):
        fields = ", ".join(kind.__dataclass_fields__)
        parts += [f"### `automl.{kind.__name__}({fields})`\n", inspect.getdoc(kind), ""]
    parts.append("## Conformance checks (`automl.testing`)\n")
    parts.append(inspect.getdoc(testing) + "\n")
    for check in testing.CHECKS:
        summary = (inspect.getdoc(check) or "").replace("\n", " ")
        parts.append(f"- `{check.__name__}`" + (f": {summary}" if summary else ""))
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["hooks"]:
        print(hook_reference(), end="")
    else:
        print(task_file_reference(build_registry()), end="")
