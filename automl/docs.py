"""Generates docs/task-file.md from the declared options: ``python -m automl.docs``.

A test compares the file with this output, so the reference cannot drift from the code.
"""

from __future__ import annotations

from automl.plugins import Registry, build_registry
from automl.schema import document
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


if __name__ == "__main__":
    print(task_file_reference(build_registry()), end="")
