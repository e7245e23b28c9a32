"""Rows of measurements, the machine they were taken on, and the tables written from them."""

from __future__ import annotations

import csv
import importlib.metadata
import os
import platform
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

PACKAGES = ("jax", "jaxlib", "flax", "optax", "optuna", "scikit-learn", "numpy", "torch",
            "flaml", "xgboost-cpu", "lightgbm")


@dataclass(frozen=True)
class Row:
    """One measurement: `value` in `unit`, of `tool` doing `what` in a `section`."""

    section: str
    what: str
    tool: str
    value: float
    unit: str
    note: str = ""


def machine() -> dict[str, str]:
    """CPU model, cores, memory, OS, Python and the versions of the packages measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = next(int(line.split()[1]) for line in
                         Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemTotal"))
        memory = f"{memory_kb / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        memory = "unknown"
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory,
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "packages": ", ".join(versions)}


def format_value(row: Row) -> str:
    if row.unit in ("samples/s", "trials/min", "trials", "programs"):
        return f"{row.value:,.0f}"
    if row.unit == "accuracy":
        return f"{row.value:.4f}"
    if row.unit == "x":
        return f"{row.value:.2f}"
    if row.unit == "%":
        return f"{row.value:.1f}"
    return f"{row.value:.3g}" if abs(row.value) < 100 else f"{row.value:,.0f}"


def write(rows: list[Row], folder: Path, started: datetime, seconds: float,
          summary: list[str]) -> tuple[Path, Path]:
    """`<date>-<host>.md` and `.csv` in `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    host = machine()
    stem = f"{started:%Y-%m-%d}-{platform.node() or 'machine'}"
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    with csv_path.open("w", newline="") as file:
        writer = csv.DictWriter(file, [field.name for field in fields(Row)])
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    lines = [f"# Benchmarks, {started.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             f"Machine: {host['cpu']}, {host['cores']} cores, {host['memory']}, "
             f"{host['system']}, Python {host['python']}.", "",
             f"Packages: {host['packages']}.", "",
             f"The whole benchmark took {seconds / 60:.1f} min "
             "(`python -m benchmarks`).", ""]
    if summary:
        lines += ["## Targets", "", *summary, ""]
    for section in dict.fromkeys(row.section for row in rows):
        lines += [f"## {section}", "", "| what | tool | value | unit | note |",
                  "|---|---|---:|---|---|"]
        lines += [f"| {r.what} | {r.tool} | {format_value(r)} | {r.unit} | {r.note} |"
                  for r in rows if r.section == section]
        lines.append("")
    md_path.write_text("\n".join(lines))
    return md_path, csv_path
