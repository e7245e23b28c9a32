"""``python -m benchmarks.gpu_check``: the deep path on a GPU, against the CPU.

The GPU path (JAX's CUDA build, populations of trials trained together with ``vmap``,
``lax.conv``) has never run on one. This runs the default MLP and CNN searches on digits
and the CNN on MNIST-1D, populations of 8 trained together, on the GPU and then on the
CPU with the same budgets, and writes each run's throughput, compile time, wall time and
scores to ``benchmarks/results/<date>-gpu-check.md``. Without a GPU it stops at once,
saying so (exit status 3). `benchmarks/gpu_check.sh` installs JAX's CUDA build first.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RUNS = (("digits", "mlp"), ("digits", "cnn"), ("mnist1d", "cnn"))
TASK = """
name = "{name}"
[dataset]
name = "{dataset}"
[families]
include = ["{family}"]
[search]
n_trials = {trials}
population = 8
[report]
seeds = 0
learning_curve = []
importances = false
[output]
dir = "{out}"
"""


def gpu_devices() -> list:
    import jax
    try:
        return jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this JAX build, or no device
        return []


def run_one(dataset: str, family: str, device: str, trials: int, folder: Path) -> dict:
    from automl.engine.plugins import build_registry
    from automl.engine.progress import Progress
    from automl.engine.run import run_task
    from automl.engine.task import load_task
    name = f"{dataset}_{family}_{device}"
    path = folder / f"{name}.toml"
    path.write_text(TASK.format(name=name, dataset=dataset, family=family, trials=trials,
                                out=(folder / name).as_posix()))
    started = time.perf_counter()
    result = run_task(load_task(path), build_registry(), device=device,
                      progress=Progress(io.StringIO()))
    wall = time.perf_counter() - started
    row = result.record.leaderboard.set_index("family").loc[family]
    return {"data": dataset, "family": family, "device": str(row["device"]),
            "trials": int(row["trials_complete"]), "wall_s": wall,
            "compile_s": float(row["compile_s"]), "fit_s": float(row["fit_s"]),
            "samples_per_s": float(row["samples_per_s"]), "cv_mean": float(row["cv_mean"]),
            "test_accuracy": float(row["test_accuracy"])}


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table, numbers to four significant digits."""
    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell(v) for v in row.values()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    gpus = gpu_devices()
    if not gpus:
        import jax
        print("gpu_check: JAX finds no GPU here (devices: "
              f"{', '.join(str(d) for d in jax.devices())}); run it on a machine with an "
              "NVIDIA GPU, through benchmarks/gpu_check.sh, which installs JAX's CUDA "
              "build", file=sys.stderr)
        return 3
    print(f"GPU: {gpus[0].device_kind}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for device in ("gpu", "cpu"):
            for dataset, family in RUNS:
                rows.append(run_one(dataset, family, device, args.trials, Path(folder)))
                print(rows[-1], flush=True)
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{day}-gpu-check.md"
    target.write_text(f"# GPU check ({gpus[0].device_kind}), {day}\n\n"
                      f"`python -m benchmarks.gpu_check --trials {args.trials}`: default "
                      "searches, populations of 8 (trained together on the GPU, one by one "
                      "on the CPU).\n\n" + markdown(rows))
    print(f"written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
