"""A hard time limit for cross-validated trials: their folds are fitted in a worker process,
and a fold still running at the trial's limit is ended with the process.

A scikit-learn fit is one call into compiled code that cannot be interrupted: checking the
limit between folds let one RBF-SVM trial on 100,000 rows run for 535 s against a 30 s
limit. Here the search process asks a long-lived worker for one fold's score at a time
and waits at most the trial's remaining seconds; past them it kills the worker, records
the trial as stopped, and starts a fresh worker before the next trial. The pruner still
sees every fold's score, in the search process.

One worker serves the whole run (`shared_worker`): each family's search sends it the
family, the training split and the metric once (`FoldWorker.prepare`), and a new process
is started only after one was killed. It is a fresh interpreter (``python -m
automl.search.fold_server``) connected by a socket pair: forking the search process after
JAX or an OpenMP library (scikit-learn's, LightGBM's) started threads can deadlock the
child, and multiprocessing's spawn and forkserver methods import the user's main script
again in the child, which runs an unguarded script twice. What it is sent goes by
cloudpickle, since families are often closures (the built-in ones are) and standard
pickle takes only functions another process can import by name; the worker gets the
search process's ``sys.path`` to import what they refer to.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from automl.datasets import DatasetInfo, Split
from automl.metrics import Metric
from automl.models import ModelFamily

STOP_SECONDS = 5.0  # how long a worker asked to stop may take before it is killed
START_SECONDS = 120.0  # how long a worker may take to import its libraries and data


class TrialStopped(TimeoutError):
    """A fold ran past the trial's time limit and its worker was ended."""


class FoldWorker:
    """Scores CV folds in a worker process whose fit can be stopped."""

    def __init__(self):
        self._process: subprocess.Popen | None = None
        self._connection: Connection | None = None
        self._setup: bytes | None = None  # the prepared family and data, pickled

    def prepare(self, family: ModelFamily, info: DatasetInfo, train: Split, metric: Metric,
                *, folds: int, seed: int, device: str) -> None:
        """Send the worker what the next folds need (starting it if none runs) and wait
        until it holds it, so that no trial's time pays for it. RuntimeError when that
        cannot be done (a family cloudpickle cannot take, a worker that does not start)."""
        try:
            self._setup = cloudpickle.dumps(
                ("setup", (family, info, train, metric, folds, seed, device)))
        except Exception as error:  # pickling fails in many ways (PicklingError, TypeError)
            raise RuntimeError(f"the family cannot be sent to a worker process: "
                               f"{type(error).__name__}: {error}") from None
        if not self._running():
            self._start()
        self._send_setup()

    def score(self, params: dict[str, Any], fold: int, seconds: float | None,
              reason: str = "the trial's time limit") -> float:
        """Fold `fold`'s validation score of `params`; `TrialStopped` after `seconds` (the
        trial's remaining time under the limit `reason` names)."""
        return self._ask(cloudpickle.dumps(("fold", params, fold)), seconds,
                         f"stopped at {reason}: CV fold {fold + 1} was still fitting, and "
                         "its process was ended", f"fitting CV fold {fold + 1}")

    def call(self, function, args: tuple, seconds: float | None, what: str) -> Any:
        """``function(*args)`` run in the worker (`automl.sizing`'s timed probe fit);
        `TrialStopped` after `seconds`. `what` says what it does, for the errors."""
        return self._ask(cloudpickle.dumps(("call", function, args)), seconds,
                         f"{what} ran past {seconds:.3g} s, and its process was ended", what)

    @property
    def pid(self) -> int | None:
        """The worker process's id (None when none runs)."""
        return self._process.pid if self._running() else None

    def _ask(self, request: bytes, seconds: float | None, stopped: str, doing: str) -> Any:
        """Send `request` and wait at most `seconds` for its answer; past them the worker
        is killed and restarted, and `TrialStopped` says `stopped`."""
        if not self._running():
            self._start()
            if self._setup is not None:
                self._send_setup()
        self._connection.send_bytes(request)
        if not self._connection.poll(seconds):
            self._kill()
            self._start()  # now, so that the next trial's time does not pay for it
            if self._setup is not None:
                self._send_setup()
            raise TrialStopped(stopped)
        try:
            status, value = self._connection.recv()
        except EOFError:  # the worker died (out of memory, a crash in compiled code)
            code = self._process.poll()
            self._kill()
            raise RuntimeError(f"the worker process {doing} died (exit code {code})"
                               ) from None
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """End the worker (it exits when asked; killed if it does not in time)."""
        if self._running():
            try:
                self._connection.send(None)
                self._process.wait(STOP_SECONDS)
            except (OSError, subprocess.TimeoutExpired):
                pass  # killed below
        self._kill()

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
            path for path in sys.path if path))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "automl.search.fold_server", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=environment, stdin=subprocess.DEVNULL)
        theirs.close()
        self._connection = Connection(ours.detach())

    def _send_setup(self) -> None:
        self._connection.send_bytes(self._setup)
        if not self._connection.poll(START_SECONDS):
            self._kill()
            raise RuntimeError(f"the worker process was not ready in {START_SECONDS:g} s")
        try:
            status, value = self._connection.recv()
        except EOFError:
            code = self._process.poll()
            self._kill()
            raise RuntimeError(f"the worker process exited as it started (exit code {code})"
                               ) from None
        if status == "error":  # what the family needs cannot be imported there
            raise RuntimeError(f"the worker process cannot take the family: {value}")

    def _kill(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None


_SHARED: FoldWorker | None = None


def shared_worker() -> FoldWorker:
    """The run's one worker, ended when the interpreter exits."""
    global _SHARED
    if _SHARED is None:
        _SHARED = FoldWorker()
        atexit.register(_SHARED.close)
    return _SHARED
