"""What an analysis plugin registers: an `Analysis`, and the `AnalysisContext` its
``run`` is given.

An analysis measures something about a run's searched and refitted families (repeated
seeds, learning curves, a depth sweep, ...) and returns tables, which the run writes
beside its leaderboard and the report's sections read. It declares its task-file keys
(under ``[report]``), when it applies, the tables it writes (with their columns, so a run
where it does not apply writes them empty and a report section can rely on them) and its
share of the analyses' time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.api.schema import Option, name_problems
from automl.fitting.budget import NO_CUTOFF, StageCutoff

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from automl.api.metrics import Metric
    from automl.api.results import FamilyResult
    from automl.data.datasets import Dataset
    from automl.engine.progress import Progress

CORE_TABLES = frozenset({"leaderboard", "trials", "predictions", "ties", "splits"})
"""The tables every run writes whatever analyses are registered; no analysis may name
one of its tables so."""
CORE_REPORT_KEYS = frozenset({"seeds", "compare", "groups"})
"""``[report]`` keys the engine itself reads (the compared pair and its seeds, which the
report's verdict and several analyses share, and the groups the data is loaded with);
no analysis may declare them."""


@dataclass
class AnalysisContext:
    """What an analysis's ``run`` is given.

    Attributes:
        results: every searched family's result (`automl.api.results.FamilyResult`): its
            search (``outcome``: family, best trial, trials), its refit and test scores
            (``test``, None where the family has no model) and the rows it was refitted
            on (``fit_rows``, None for all of them).
        dataset: the first outer split (``train``, ``test``, ``info``).
        metric: the metric the search optimised; `metrics` every reported one by name.
        seed: the task's seed. `seeds`: the ``[report] seeds`` to refit over (0: none).
        pairs: the compared pairs of families (``[report] compare`` and the best
            classical against the best deep family).
        folds: the validation folds every family was scored on (1: one holdout).
        device: the JAX platform deep families run on.
        options: this analysis's ``[report]`` keys, checked, with their defaults.
        cutoff: ``cutoff.reached(what)`` before each fit: True once the analysis's share
            of a time limit is spent (it then notes ``what`` was cut short);
            ``cutoff.seconds_left()`` (None without a limit).
        progress: ``progress.message(text)`` prints a line for the user.
        tables: the tables the analyses before this one returned, by name.
        shared: what the analyses before this one left for later ones (in memory, never
            written): the ensemble leaves its `automl.analyses.ensemble.Combined` as
            ``shared["ensemble"]``.
        folder: the run's output folder (its saved models are under ``models/``); None
            where the analysis runs outside a run.
    """

    results: Sequence[FamilyResult]
    dataset: Dataset
    metric: Metric
    metrics: Mapping[str, Metric]
    seed: int
    seeds: int
    pairs: Sequence[tuple[str, str]]
    folds: int
    device: str
    progress: Progress
    options: Mapping[str, Any] = field(default_factory=dict)
    cutoff: StageCutoff = NO_CUTOFF
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None
    leaderboard_rows: list[dict] = field(default_factory=list)
    prediction_columns: dict[str, np.ndarray] = field(default_factory=dict)
    leaderboard_columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_to_leaderboard(self, row: dict, predictions: np.ndarray) -> None:
        """A row the leaderboard ranks beside the families (as the ensemble's), with its
        test predictions for the predictions table. The row holds ``family``, ``kind``,
        ``cv_mean`` (its validation score, which ranks it) and ``test_<metric>`` scores."""
        self.leaderboard_rows.append(row)
        self.prediction_columns[row["family"]] = predictions

    def add_leaderboard_column(self, name: str, values: Mapping[str, Any]) -> None:
        """A column of the leaderboard: each family's value by name (a family without
        one is left blank)."""
        self.leaderboard_columns[name] = dict(values)


@dataclass(frozen=True)
class Analysis:
    """An analysis of a run, registered through `automl_register_analyses` (the built-in
    ones are registered the same way, by the ``analyses`` plugin).

    Attributes:
        name: unique id, lowercase letters, digits and underscores.
        title: what it measures, in a few words (the terminal and the time plan show it).
        run: ``run(context) -> {table name: DataFrame}`` with an `AnalysisContext`; each
            table it returns must be one of `tables`. It is called in the run's process,
            after the refits; fits it makes should ask ``context.cutoff`` first.
        tables: each table it writes and that table's columns. A run where the analysis
            is off or does not apply writes them empty (with these columns); a returned
            table without one of them gets it empty. Table names share one namespace
            with the engine's (``leaderboard``, ``trials``, ``predictions``, ``ties``,
            ``splits``) and every other analysis's.
        options: its ``[report]`` keys (`automl.Option`s), checked before the run
            starts like the engine's own; the values reach ``run`` as
            ``context.options``. No two analyses may declare one key.
        switch: the boolean key among `options` that turns it on or off (None: always
            on where it applies).
        applies: ``applies(context) -> bool``: whether it has anything to do on this run
            (families present, options set), asked before it is run. None: always.
        input_kinds, task_types: the data it applies to (empty: any).
        cost: its share of the analyses' time, relative to the other analyses' (the
            built-in ones: 0 for those that fit nothing, 1 to 3 for those that refit).
            Under a time limit each analysis may use its share of what the analyses
            still have, and what it leaves goes to the next.
        order: where it runs; analyses run by order (an analysis that reads another's
            `shared` or `tables` comes after it), then by plugin load order. The built-in
            ones: ensemble 100, seed comparison 200, subgroups 250, learning curves 300,
            extrapolation 350, search budget 360, depth sweep 400, explanations 500,
            features 600, serving 650, hyperparameter importances 700.
            Default 1000.
    """

    name: str
    title: str
    run: Callable[[AnalysisContext], Mapping[str, pd.DataFrame]]
    tables: Mapping[str, Sequence[str]]
    options: Mapping[str, Option] = field(default_factory=dict)
    switch: str | None = None
    applies: Callable[[AnalysisContext], bool] | None = None
    input_kinds: frozenset[str] = frozenset()
    task_types: frozenset[str] = frozenset()
    cost: float = 1.0
    order: int = 1000

    def problems(self) -> list[str]:
        """What is wrong with this registration (empty when it is valid)."""
        found = name_problems(self.name)
        if not isinstance(self.title, str) or not self.title.strip():
            found.append("title must be a non-empty string")
        if not callable(self.run):
            found.append("run must be callable")
        if not isinstance(self.tables, Mapping) or not self.tables:
            found.append("tables must name at least one table and its columns")
        else:
            for table, columns in self.tables.items():
                found += [f"table {p}" for p in name_problems(table)]
                if table in CORE_TABLES:
                    found.append(f"table {table!r} is one of the engine's own")
                if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
                    found.append(f"table {table!r}: columns must be a list of strings")
        if not all(isinstance(option, Option) for option in self.options.values()):
            found.append("options must be automl.Option values")
        taken = CORE_REPORT_KEYS & set(self.options)
        if taken:
            found.append(f"options {sorted(taken)} are the engine's own [report] keys")
        if self.switch is not None and (self.switch not in self.options
                                        or self.options[self.switch].type is not bool):
            found.append(f"switch {self.switch!r} must be one of its boolean options")
        if self.applies is not None and not callable(self.applies):
            found.append("applies must be callable or None")
        if not isinstance(self.cost, int | float) or self.cost < 0:
            found.append("cost must be a number >= 0")
        return found

    def clashes_with(self, other: Analysis) -> list[str]:
        """The ``[report]`` keys and table names `other` already declares."""
        return ([f"[report] key '{key}'" for key in self.options if key in other.options]
                + [f"table '{table}'" for table in self.tables if table in other.tables])

    def is_on(self, options: Mapping[str, Any]) -> bool:
        """Whether its switch (if any) is on in `options` (its checked keys)."""
        return self.switch is None or bool(options.get(self.switch))

    def empty_tables(self) -> dict[str, pd.DataFrame]:
        """Its tables with no rows, as a run where it does not apply writes them."""
        import pandas as pd
        return {table: pd.DataFrame(columns=list(columns))
                for table, columns in self.tables.items()}
