"""The command line: ``python -m automl TASK`` and ``python -m automl plugins``.

Errors in the user's input print one message and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pandas as pd

import automl
from automl.analyses.leaderboard import report_param_columns
from automl.api.errors import AutomlError
from automl.engine.plugins import TRACE_VARIABLE, build_registry
from automl.engine.progress import Progress

COMMANDS = ("run", "plugins", "report", "predict", "export")
DESCRIPTION = """\
Classical machine learning or deep learning, and which model, for your data?

Reads a task file (TOML), runs one Optuna search per installed model family that accepts
the data, refits each family's best parameters and scores them on a held-out test split,
and writes a leaderboard (CSV) and a self-contained HTML report.
"""
EPILOG = """\
examples:
  python -m automl tasks/images.toml            search, then write reports/digits/
  python -m automl tasks/images.toml --storage sqlite:///study.db
  python -m automl tasks/images.toml --jobs 2   two worker processes on one study
  python -m automl plugins                      list plugins and what they register
  python -m automl predict reports/titanic new.csv --out predictions.csv

Running the same task again resumes: finished trials are reused, not repeated.
Task file keys: docs/task-file.md.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m automl", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"automl {automl.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{run,plugins,report,predict,export}")
    run = commands.add_parser("run", help="run a task file (the default command)",
                              description="Run a task file: search, refit, report.")
    run.add_argument("task", help="path of the task file (TOML)")
    run.add_argument("--storage", metavar="URL",
                     help="Optuna storage URL (sqlite:///x.db, postgresql://...) or journal "
                     "file path; default: optuna.journal in the output folder")
    run.add_argument("--device", choices=("auto", "cpu", "gpu", "tpu"),
                     help="JAX platform for deep families; default: the task file's device")
    run.add_argument("--time-limit", type=positive_seconds, metavar="SECONDS",
                     help="wall-clock seconds for the whole command (search, refits, "
                     "analyses, report); default: the task file's search.time_limit")
    run.add_argument("--quiet", action="store_true", help="print only the leaderboard")
    run.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="search with N local worker processes sharing the storage, then "
                     "refit and report once they finish (default 1)")
    run.add_argument("--search-only", action="store_true",
                     help="run trials and exit without refitting or reporting: a worker "
                     "beside others on one --storage (see README, several machines)")
    run.add_argument("--strict", action="store_true",
                     help="stop at the first plugin problem (a plugin that fails to load, a "
                     "duplicate name, a hook that raises) instead of warning and going on")
    run.add_argument("--trace-hooks", action="store_true",
                     help="print every plugin hook call to stderr (also: AUTOML_TRACE_HOOKS=1)")
    commands.add_parser("plugins", help="list installed plugins and what they register",
                        description="List installed plugins, what they register and what "
                        "is wrong with them. AUTOML_PLUGINS_ALLOW and AUTOML_PLUGINS_BLOCK "
                        "apply.")
    report = commands.add_parser(
        "report", help="rebuild a run's HTML report from its output folder",
        description="Rebuild index.html from the tables a run wrote, training nothing.")
    report.add_argument("folder", help="the run's output folder, e.g. reports/digits")
    predict = commands.add_parser(
        "predict", help="predict new rows of a table with a run's saved model",
        description="Apply a run's saved model (the winner by default), with its "
        "preprocessing, to new rows; write them with a prediction column (and class "
        "probabilities).")
    predict.add_argument("folder", help="the run's output folder, e.g. reports/titanic")
    predict.add_argument("rows", help="CSV or Parquet file of new rows, with the training "
                         "table's columns (the target may be absent)")
    predict.add_argument("--family", help="the family whose model predicts (default: the "
                         "leaderboard's first)")
    predict.add_argument("--out", metavar="FILE",
                         help="where to write the predictions (default: predictions.csv)")
    predict.add_argument("--onnx", action="store_true",
                         help="predict with the family's exported ONNX file (from "
                         "`export`) instead of its saved model")
    export = commands.add_parser(
        "export", help="write a run's models as ONNX files, preprocessing included",
        description="Write each chosen family's saved model with its preprocessing as one "
        "ONNX graph that takes the raw columns (the ONNX packages: pip install "
        "automl[onnx]); say for each where it went, or which step could not be exported "
        "and why.")
    export.add_argument("folder", help="the run's output folder, e.g. reports/penguins")
    chosen = export.add_mutually_exclusive_group()
    chosen.add_argument("--family", help="the family to export (default: the leaderboard's "
                        "first; the ensemble exports its members)")
    chosen.add_argument("--all", action="store_true", help="every family with a model")
    export.add_argument("--out", metavar="DIR",
                        help="where to write the files (default: FOLDER/onnx)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "run")  # `python -m automl TASK` means `run TASK`
    args = build_parser().parse_args(argv)
    try:
        if args.command == "plugins":
            return list_plugins()
        if args.command == "run":
            return run(args)
        if args.command == "report":
            with read_as_data(args.folder):
                return rebuild_report(args.folder)
        if args.command == "predict":
            from automl.engine.predict import main as predict
            with read_as_data(args.folder):
                return predict(args.folder, args.rows, args.family, args.out, args.onnx)
        if args.command == "export":
            from automl.engine.onnx_files import export_folder
            with read_as_data(args.folder):
                return export_folder(args.folder, args.family, args.all, args.out)
        build_parser().print_help()
        return 0
    except AutomlError as error:
        print(f"error: {error.message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished trials are saved; run the same command to resume.",
              file=sys.stderr)
        return 130
    except Exception:  # a bug's traceback, with any storage password hidden
        import traceback

        from automl.search import redact
        print(redact(traceback.format_exc()), file=sys.stderr)
        return 1


@contextlib.contextmanager
def read_as_data(folder: str):
    """A run folder is data that may be damaged (or tampered with): what its files make
    fail, wherever it fails, is an error naming the folder, not a traceback."""
    try:
        yield
    except (AutomlError, KeyboardInterrupt):
        raise
    except Exception as error:
        raise AutomlError(f"the run's files could not be used ({type(error).__name__}: "
                          f"{error})", where=folder, hint="a file of the folder may be "
                          "damaged: run the task again to write them anew") from None


def positive_seconds(text: str) -> float:
    """--time-limit's value: a number of seconds above zero."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, found {text!r}"
                                         ) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected seconds above 0, found {text}")
    return seconds


def quiet_optuna() -> None:
    """Optuna's own log lines and experimental-feature warnings stay out of the terminal:
    the engine prints its progress itself. Set here, by the command, so that importing
    automl leaves a library user's logging alone."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def run(args: argparse.Namespace) -> int:
    from automl.engine.run import run_task  # keeps `--help` and `plugins` quick
    from automl.engine.task import (
        check_plugin_names,
        check_plugin_selection,
        load_task,
        plugin_selection,
    )

    quiet_optuna()
    task = load_task(args.task)
    allow, block = plugin_selection(task)
    registry = build_registry(allow=allow, block=block, strict=args.strict,
                              trace=args.trace_hooks or bool(os.environ.get(TRACE_VARIABLE)))
    check_plugin_selection(task, registry)
    check_plugin_names(task, registry)  # before any worker starts
    if args.jobs < 1:
        raise AutomlError("--jobs must be at least 1", key="--jobs", found=args.jobs)
    if args.jobs > 1:
        run_workers(args)
    command = "python -m automl " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = run_task(task, registry, storage_url=args.storage, device=args.device,
                      progress=Progress(quiet=args.quiet), command=command,
                      search_only=args.search_only, time_limit=args.time_limit,
                      limit_from=automl._imported_at)
    if result is None:
        return 0
    print(format_leaderboard(result.leaderboard, result.record.run.metric))
    print(f"\nreport: {result.output_dir / 'index.html'}\n"
          f"leaderboard: {result.output_dir / 'leaderboard.csv'}")
    return 0


def run_workers(args: argparse.Namespace) -> None:
    """Run `args.jobs` search-only copies of this command on the same storage and wait
    for them; the caller then refits and reports from the trials they stored."""
    command = [sys.executable, "-m", "automl", "run", args.task, "--search-only", "--quiet"]
    for flag in ("storage", "device", "time_limit"):
        if getattr(args, flag):
            command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    command += ["--strict"] if args.strict else []
    environment = worker_environment(args.jobs)
    workers = [subprocess.Popen(command, env=environment) for _ in range(args.jobs)]  # noqa: S603 (our own interpreter and arguments)
    print(f"searching with {args.jobs} worker processes "
          f"({', '.join(str(w.pid) for w in workers)})", file=sys.stderr)
    failed = [w.pid for w in workers if w.wait() != 0]
    if failed:
        raise AutomlError(f"worker processes {', '.join(map(str, failed))} failed; their "
                          "finished trials are kept", hint="run the same command to resume")


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker_environment(jobs: int) -> dict[str, str]:
    """The environment of `jobs` workers on this machine: each gets its share of the
    cores for BLAS and OpenMP (numpy, scikit-learn, LightGBM), since N workers each
    running as many threads as there are cores slow one another down; and one XLA thread
    when a share is one core. Limits the user set are kept."""
    environment = dict(os.environ)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    for variable in THREAD_VARIABLES:
        environment.setdefault(variable, str(threads))
    if threads == 1 and "multi_thread_eigen" not in environment.get("XLA_FLAGS", ""):
        environment["XLA_FLAGS"] = (environment.get("XLA_FLAGS", "")
                                    + " --xla_cpu_multi_thread_eigen=false").strip()
    return environment


def rebuild_report(folder: str) -> int:
    from automl.engine.outputs import read_record
    from automl.engine.task import plugin_selection
    from automl.report.page import write_html_report
    record = read_record(Path(folder))
    allow, block = plugin_selection()
    registry = build_registry(allow=allow, block=block)  # for the plugins' report sections
    print(f"report: {write_html_report(record, record.folder, registry)}")
    return 0


def format_leaderboard(board: pd.DataFrame, metric: str) -> str:
    columns = ["rank", "family", "kind", "cv_mean", "cv_std"]
    columns += [c for c in board.columns if c.startswith("test_")]
    columns += ["optimism", "fit_s", "predict_ms_per_1k", "peak_memory_mb"]
    params = report_param_columns(board)
    if (board["kind"] == "deep").any():
        columns += ["compile_s", *params, "device"]
    columns += ["trials_complete", "trials_pruned", "trials_stopped", "trials_failed"]
    shown = board[columns].rename(columns={"predict_ms_per_1k": "pred_ms/1k",
                                           "peak_memory_mb": "peak_MB",
                                           "trials_complete": "done",
                                           "trials_pruned": "pruned",
                                           "trials_stopped": "stopped",
                                           "trials_failed": "failed"})
    for name in shown.columns:  # nullable integers print <NA> whatever na_rep says
        if str(shown[name].dtype) == "Int64":
            shown[name] = shown[name].map(lambda v: "-" if pd.isna(v) else str(int(v)))
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
    for _, row in board[board["note"] != ""].iterrows():
        text += f"\n{row['family']}: {row['note']}"
    for note in board.loc[board["rows_note"] != "", "rows_note"]:
        text += f"\n{note}"
    return (f"\nleaderboard (ranked by validation {metric}, cv_mean, which chooses; the "
            f"test columns estimate):\n{text}")


def list_plugins() -> int:
    from automl.engine.task import plugin_selection
    allow, block = plugin_selection()
    registry = build_registry(allow=allow, block=block,
                              on_problem=lambda problem: None)  # listed below instead
    for plugin in registry.plugins:
        origin = f"{plugin.distribution} {plugin.version}" if plugin.distribution else "local"
        print(f"{plugin.name} ({origin}, {plugin.module})")
        if plugin.blocked:
            print("  blocked (AUTOML_PLUGINS_ALLOW / AUTOML_PLUGINS_BLOCK)")
            continue
        for category, names in registry.by_plugin(plugin.name).items():
            if names:
                label = category.replace("_", " ")
                print(textwrap.fill(", ".join(names), width=88,
                                    initial_indent=f"  {label}: ",
                                    subsequent_indent=" " * (len(label) + 4)))
        for problem in registry.problems:
            if problem.plugin == plugin.name:
                print(f"  problem: {problem.problem}")
    return 0
