"""A fit that can be stopped: a hard time limit for the fits that cannot be interrupted
(cross-validated trials' folds, the refits, the analyses' fits), which run in a worker
process ended at their limit. Below the search and the analyses, which both use it.

A scikit-learn fit is one call into compiled code that cannot be interrupted: checking the
limit between folds let one RBF-SVM trial on 100,000 rows run for 535 s against a 30 s
limit. Here the search process asks a long-lived worker for one fold's score at a time
and waits at most the trial's remaining seconds; past them it kills the worker, records
the trial as stopped, and starts a fresh worker before the next trial. The pruner still
sees every fold's score, in the search process.

One worker serves the whole run (`shared_worker`): each family's search sends it the
family, the training split and the metric once (`FoldWorker.prepare`), and a new process
is started only after one was killed. Starting one takes about 1.2 s on 2 cores (an
interpreter, numpy, scikit-learn), which under a short time limit was as long as a
family's whole share; so once a worker has been killed a spare is kept started and
waiting, and the next kill swaps it in at once. It is a fresh interpreter (``python -m
automl.fitting.fold_server``) connected by a socket pair: forking the search process after
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
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from automl.api.metrics import Metric
from automl.api.models import ModelFamily
from automl.data.datasets import DatasetInfo, Split

STOP_SECONDS = 5.0  # how long a worker asked to stop may take before it is killed
START_SECONDS = 120.0  # how long a worker may take to import its libraries and data


class TrialStopped(TimeoutError):
    """A fold ran past the trial's time limit and its worker was ended."""


@dataclass(frozen=True)
class Held:
    """Stands, in a call's arguments, for the object the worker holds under `key`."""

    key: str


class NotSendable(RuntimeError):
    """What a call needs or returns cannot be pickled between the processes."""


class FoldWorker:
    """Scores CV folds in a worker process whose fit can be stopped."""

    def __init__(self):
        self._process: subprocess.Popen | None = None
        self._connection: Connection | None = None
        self._spare: tuple[subprocess.Popen, Connection] | None = None  # after a kill
        self._setup: bytes | None = None  # the prepared family and data, pickled
        self._held: dict[str, tuple[Any, bytes]] = {}  # key: (object, its "hold" message)

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
        if self._running():
            self._send_setup()
        else:
            self._restart()

    def hold(self, key: str, value: Any) -> None:
        """Keep `value` in the worker under `key`: sent once (and again after a restart),
        so that a `call` passing this very object sends only its key (the dataset, for
        the refits and the analyses' fits)."""
        self._held[key] = (value, cloudpickle.dumps(("hold", key, value)))
        if not self._running():
            self._restart()
        else:
            self._send_and_wait(self._held[key][1], "the held data")

    def score(self, params: dict[str, Any], fold: int, seconds: float | None,
              reason: str = "the trial's time limit") -> tuple[float, Any, float, float]:
        """Fold `fold`'s validation score of `params`, its outputs on the fold's rows
        and the seconds of its fit and scoring (`automl.fitting.evaluate.score_fold`);
        `TrialStopped` after
        `seconds` (the trial's remaining time under the limit `reason` names)."""
        return self._ask(cloudpickle.dumps(("fold", params, fold)), seconds,
                         f"stopped at {reason}: CV fold {fold + 1} was still fitting, and "
                         "its process was ended", f"fitting CV fold {fold + 1}")

    def call(self, function, args: tuple, seconds: float | None, what: str) -> Any:
        """``function(*args)`` run in the worker (`automl.fitting.sizing`'s timed probe fit);
        `TrialStopped` after `seconds`. `what` says what it does, for the errors."""
        held = {id(value): key for key, (value, _) in self._held.items()}
        args = tuple(Held(held[id(arg)]) if id(arg) in held else arg for arg in args)
        try:
            request = cloudpickle.dumps(("call", function, args))
        except Exception as error:  # pickling fails in many ways (PicklingError, TypeError)
            raise NotSendable(f"{type(error).__name__}: {error}") from None
        return self._ask(request, seconds,
                         f"{what} ran past {seconds:.3g} s, and its process was ended", what)

    @property
    def pid(self) -> int | None:
        """The worker process's id (None when none runs)."""
        return self._process.pid if self._running() else None

    def _ask(self, request: bytes, seconds: float | None, stopped: str, doing: str) -> Any:
        """Send `request` and wait at most `seconds` for its answer; past them the worker
        is killed and restarted, and `TrialStopped` says `stopped`."""
        if not self._running():
            self._restart()
        self._connection.send_bytes(request)
        try:
            answered = self._connection.poll(seconds)
        except BaseException:  # its answer would be read as the next request's: end it
            self._kill()
            raise
        if not answered:
            self._kill()
            self._restart(spare=True)  # now, so the next trial's time does not pay for it
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
        if status == "unsendable":
            raise NotSendable(value)
        return value

    def close(self) -> None:
        """End the worker (it exits when asked; killed if it does not in time) and its
        spare."""
        if self._spare is not None:
            self._spare[0].kill()
            self._spare[0].wait()
            self._spare = None
        if self._running():
            try:
                self._connection.send(None)
                self._process.wait(STOP_SECONDS)
            except (OSError, subprocess.TimeoutExpired):
                pass  # killed below
        self._kill()

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start(self, spare: bool = False) -> None:
        """A worker process: the spare where one waits; with `spare`, a new spare is
        started to wait for the next kill."""
        waiting, self._spare = self._spare, None
        if waiting is not None and waiting[0].poll() is None:
            self._process, self._connection = waiting
        else:
            if waiting is not None:  # the spare died while it waited
                waiting[1].close()
            self._process, self._connection = _spawn()
        if spare:
            self._spare = _spawn()

    def _restart(self, spare: bool = False) -> None:
        """A fresh worker holding what the last one held (`_start`'s `spare`)."""
        self._start(spare or self._spare is not None)
        if self._setup is not None:
            self._send_setup()
        for _, message in self._held.values():
            self._send_and_wait(message, "the held data")

    def _send_setup(self) -> None:
        self._send_and_wait(self._setup, "the family")

    def _send_and_wait(self, message: bytes, what: str) -> None:
        """Send a setup or hold message and wait until the worker has taken it."""
        self._connection.send_bytes(message)
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
            raise RuntimeError(f"the worker process cannot take {what}: {value}")

    def _kill(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None


ENDS_ITSELF_GRACE = 2.0
"""How many times its limit a fit that ends itself at the limit may take in the worker,
its predictions included, before the worker ends it."""


def run_stoppable(family: ModelFamily, function, args: tuple, seconds: float | None,
                  what: str):
    """``function(*args)`` in the run's worker, stopped after `seconds` (`TrialStopped`),
    for a cross-validated family. In this process where no limit is set, where what the
    call needs or returns cannot be sent between processes, and for holdout families:
    they keep their compiled programs here, and ``function(*args, stop_after=seconds)``
    ends their fit after the epoch past the limit (`automl.fitting.evaluate.fit_within`). A
    cross-validated family whose fit ends itself (`ModelFamily.stops_in_rounds`) is
    asked the same in the worker, which ends it only past `ENDS_ITSELF_GRACE` times the
    limit: what it fitted still has its predictions to make."""
    if seconds is not None and family.evaluation == "holdout":
        return function(*args, stop_after=seconds)
    if seconds is None or family.evaluation != "cv":
        return function(*args)
    if family.stops_in_rounds:
        function, seconds = partial(function, stop_after=seconds), ENDS_ITSELF_GRACE * seconds
    try:
        return shared_worker().call(function, args, seconds, what)
    except NotSendable:
        return function(*args)


def _spawn() -> tuple[subprocess.Popen, Connection]:
    """A worker process, started, and our end of its socket."""
    ours, theirs = socket.socketpair()
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        path for path in sys.path if path))
    process = subprocess.Popen(  # noqa: S603 (our own interpreter)
        [sys.executable, "-m", "automl.fitting.fold_server", str(theirs.fileno())],
        pass_fds=[theirs.fileno()], env=environment, stdin=subprocess.DEVNULL)
    theirs.close()
    return process, Connection(ours.detach())


_SHARED: FoldWorker | None = None


def shared_worker() -> FoldWorker:
    """The run's one worker, ended when the interpreter exits."""
    global _SHARED
    if _SHARED is None:
        _SHARED = FoldWorker()
        atexit.register(_SHARED.close)
    return _SHARED
