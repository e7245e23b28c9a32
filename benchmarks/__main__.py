"""``python -m benchmarks``: run every section, print and write the tables.

Options: ``--quick`` (small budgets, for a smoke test of the whole path), ``--only``
(some sections), ``--out`` (the results folder; default benchmarks/results).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import (
    compile_share,
    overhead,
    population,
    quality,
    scaling,
    scaling_rows,
    table,
    tabular,
    throughput,
)

SECTIONS = {"throughput": throughput, "compile": compile_share, "overhead": overhead,
            "quality": quality, "scaling": scaling, "population": population,
            "tabular": tabular, "scaling-rows": scaling_rows}
OPT_IN = ("tabular", "scaling-rows")
"""Sections run only when named with --only: AutoGluon needs an environment of its own,
and each takes about 30 minutes."""


@dataclass
class Settings:
    """What the sections measure, full size by default."""

    repeats: int = 4
    compile_trials: int | None = None  # the default search: the task's budget
    overhead_trials: int = 200
    budgets: list[float] = field(default_factory=lambda: [30.0, 60.0, 120.0])
    repeat_budget: float = 30.0
    repeat_dataset: str = "mnist1d"  # digits' repeat ends its classical searches by time
    with_flaml: bool = True
    scaling_families: list[str] = field(default_factory=lambda: [
        "logistic_regression", "linear_svm", "rbf_svm", "knn", "naive_bayes"])
    population_sizes: list[int] = field(default_factory=lambda: [4])
    tabular_budgets: list[float] = field(default_factory=lambda: [60.0])
    tabular_tables: int = len(tabular.TABLES)
    tabular_seeds: tuple[int, ...] = tabular.SPLIT_SEEDS
    scaling_sizes: dict = field(default_factory=lambda: dict(scaling_rows.SIZES))
    scaling_real: bool = True
    scaling_plot: Path | None = None  # set by main, beside the tables
    environment: dict = field(default_factory=lambda: dict(os.environ))
    worker_overrides: dict = field(default_factory=dict)

    @classmethod
    def quick(cls) -> Settings:
        return cls(repeats=1, compile_trials=4, overhead_trials=20,
                   budgets=[5.0, 10.0], repeat_budget=5.0, scaling_families=["naive_bayes"],
                   population_sizes=[2], tabular_budgets=[15.0], tabular_tables=1,
                   tabular_seeds=(0,),
                   scaling_sizes={1_000: 40, 30_000: 60}, scaling_real=False)


def summary(rows: list[table.Row]) -> list[str]:
    """One line per target of issue 7, met or missed, by how much."""
    def value(section, tool, what_part="", unit=None):
        return [r for r in rows if r.section == section and r.tool == tool
                and what_part in r.what and (unit is None or r.unit == unit)]

    lines = []
    for row in value(throughput.SECTION, "engine / PyTorch"):
        if row.what.startswith(("MLP", "CNN")):
            lines.append(f"- {row.what}: engine {row.value:.2f}x PyTorch (target 1.3x): "
                         + ("met" if row.value >= 1.3 else "missed"))
    for row in value(compile_share.SECTION, "engine", unit="%"):
        lines.append(f"- compile share, {row.what}: {row.value:.0f}% (target < 10%): "
                     + ("met" if row.value < 10 else "missed"))
    for row in value(overhead.SECTION, "engine - raw"):
        lines.append(f"- engine overhead: {row.value:.1f} ms/trial (target < 10 ms): "
                     + ("met" if row.value < 10 else "missed"))
    for row in value(quality.SECTION, "engine"):
        flaml = value(quality.SECTION, "FLAML", row.what)
        if flaml:
            took = row.note.split("; ")[-1]
            lines.append(f"- {row.what}: engine {row.value:.4f} ({took}), FLAML "
                         f"{flaml[0].value:.4f}: " + ("engine ahead" if row.value >
                                                      flaml[0].value else "engine not ahead"))
    for row in value(population.SECTION, "together / one by one"):
        lines.append(f"- population of {row.what}: trained together {row.value:.2f}x the "
                     "throughput of one by one (no target; vmap is for accelerators)")
    for row in value(scaling_rows.SECTION, "engine", ": the whole command"):
        lines.append(f"- {row.what.split(':')[0]}: {row.value:.0f} s, {row.note}")
    for row in value(scaling_rows.SECTION, "AutoGluon"):
        lines.append(f"- {row.what}: AutoGluon {row.value:.4f}, {row.note}")
    for row in value(tabular.SECTION, "engine", "mean of"):
        other = value(tabular.SECTION, "AutoGluon", row.what)
        if other:
            theirs = other[0].value
            if row.unit == "accuracy":  # target: at most one point behind
                behind, within = theirs - row.value, theirs - row.value <= 0.01
            else:  # RMSE: at most 3% behind
                behind, within = row.value - theirs, row.value <= 1.03 * theirs
            lines.append(f"- {row.what}: engine {row.value:.4f}, AutoGluon {theirs:.4f} "
                         f"({row.unit}): " + ("engine at least as good" if behind <= 0
                                              else f"AutoGluon ahead by {behind:.4f}")
                         + ("" if within else " (more than the target allows)"))
    for row in value(quality.SECTION, "engine, same seed again"):
        lines.append(f"- {row.what}, same seed twice: {row.note.split(';')[0]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small budgets (a smoke test)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS,
                        default=[name for name in SECTIONS if name not in OPT_IN])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--scaling-sizes", nargs="+", metavar="ROWS:SECONDS",
                        help="scaling-rows: these synthetic tables (rows and time limit) "
                             "instead of the default four")
    parser.add_argument("--no-real-table", action="store_true",
                        help="scaling-rows: leave out the real table (openintro/military)")
    args = parser.parse_args(argv)
    settings = Settings.quick() if args.quick else Settings()
    if args.scaling_sizes:
        settings.scaling_sizes = {int(rows): float(seconds) for rows, seconds in
                                  (size.split(":") for size in args.scaling_sizes)}
    settings.scaling_real = settings.scaling_real and not args.no_real_table
    settings.with_flaml = settings.with_flaml and has_module("flaml")
    started, start = datetime.now(timezone.utc), time.perf_counter()
    settings.scaling_plot = args.out / f"{started:%Y-%m-%d}-scaling-rows.png"
    rows: list[table.Row] = []
    for name in args.only:
        section_start = time.perf_counter()
        print(f"{name}...", file=sys.stderr, flush=True)
        new = SECTIONS[name].run(settings)
        for row in new:
            print(f"  {row.what} | {row.tool} | {table.format_value(row)} {row.unit} "
                  f"{row.note}", file=sys.stderr, flush=True)
        print(f"  ({time.perf_counter() - section_start:.0f} s)", file=sys.stderr)
        rows += new
    minutes = (time.perf_counter() - start) / 60
    targets = summary(rows) + [f"- the whole benchmark: {minutes:.1f} min (target < 20 min "
                               "with every section): " + ("met" if minutes < 20 else "missed")]
    md, csv = table.write(rows, args.out, started, minutes * 60, targets)
    print(md.read_text())
    print(f"written: {md} and {csv}", file=sys.stderr)
    return 0


def has_module(name: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main())
