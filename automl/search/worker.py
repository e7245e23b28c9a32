"""A hard time limit for cross-validated trials: their folds are fitted in a worker process,
and a fold still running at the trial's limit is ended with the process.

A scikit-learn fit is one call into compiled code that cannot be interrupted: checking the
limit between folds let one RBF-SVM trial on 100,000 rows run for 535 s against a 30 s
limit. Here the search process asks a long-lived worker for one fold's score at a time
and waits at most the trial's remaining seconds; past them it kills the worker, records
the trial as stopped, and starts a fresh worker for the next trial. The pruner still sees
every fold's score, in the search process.

The worker is started by the "forkserver" method: forking the search process itself after
JAX or an OpenMP library (scikit-learn's, LightGBM's) started threads can deadlock the
child. The family, the training split and the metric are sent to it once, when it starts,
with cloudpickle, since families are often closures (the built-in ones are) and standard
pickle takes only functions another process can import by name.
"""

from __future__ import annotations

import multiprocessing
import pickle
from typing import Any

import cloudpickle
import numpy as np

from automl.datasets import DatasetInfo, Split
from automl.metrics import Metric
from automl.models import ModelFamily

STOP_SECONDS = 5.0  # how long a worker asked to stop may take before it is killed
START_SECONDS = 120.0  # how long a worker may take to import its libraries and data


class TrialStopped(TimeoutError):
    """A fold ran past the trial's time limit and its worker was ended."""


class FoldWorker:
    """Scores a family's CV folds in a worker process whose fit can be stopped."""

    def __init__(self, family: ModelFamily, info: DatasetInfo, train: Split, metric: Metric,
                 *, folds: int, seed: int, device: str):
        self._setup = (family, info, train, metric, folds, seed, device)
        self._process = None
        self._connection = None

    @staticmethod
    def can_run(family: ModelFamily) -> bool:
        """Whether `family` can be sent to a worker process (cloudpickle takes closures
        and lambdas, not every object they may hold)."""
        try:
            cloudpickle.dumps(family)
        except Exception:  # pickling fails in many ways (PicklingError, TypeError, ...)
            return False
        return True

    def score(self, params: dict[str, Any], fold: int, seconds: float | None,
              limit: float | None = None) -> float:
        """Fold `fold`'s validation score of `params`; `TrialStopped` after `seconds` (the
        trial's remaining time under its `limit`)."""
        if self._process is None or not self._process.is_alive():
            self.start()
        self._connection.send((params, fold))
        if not self._connection.poll(seconds):
            self._kill()
            self.start()  # now, so that the next trial's time does not pay for it
            raise TrialStopped(f"stopped at trial_timeout ({limit or seconds:g} s): CV fold "
                               f"{fold + 1} was still fitting, and its process was ended")
        try:
            status, value = self._connection.recv()
        except EOFError:  # the worker died (out of memory, a crash in compiled code)
            code = self._process.exitcode
            self._kill()
            raise RuntimeError(f"the worker process fitting CV fold {fold + 1} died "
                               f"(exit code {code})") from None
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """End the worker (it exits when asked; killed if it does not in time)."""
        if self._process is not None and self._process.is_alive():
            try:
                self._connection.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._process.join(STOP_SECONDS)
        self._kill()

    def start(self) -> None:
        """Start the worker and wait until it holds the data (a second or two: it imports
        the family's libraries), so that no trial's time pays for it."""
        context = multiprocessing.get_context("forkserver")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve,
                                        args=(child, cloudpickle.dumps(self._setup)),
                                        daemon=True, name="automl-fold-worker")
        self._process.start()
        child.close()
        if not self._connection.poll(START_SECONDS):
            self._kill()
            raise RuntimeError(f"the worker process did not start in {START_SECONDS:g} s")
        try:
            self._connection.recv()  # "ready"
        except EOFError:
            code = self._process.exitcode
            self._kill()
            raise RuntimeError(f"the worker process exited as it started (exit code {code})"
                               ) from None

    def _kill(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join()
            self._process.close()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None


def _serve(connection, setup: bytes) -> None:
    """The worker's loop: score the folds asked for until told to stop (None)."""
    from automl.evaluate import cv_splitter, score_fold
    family, info, train, metric, folds, seed, device = pickle.loads(setup)
    splits = list(cv_splitter(info, folds, seed).split(train.X, train.y))
    connection.send("ready")
    while (request := connection.recv()) is not None:
        params, fold = request
        try:
            score = score_fold(family, params, info, train, metric, splits[fold], seed,
                               device, fold)
            connection.send(("ok", float(np.float64(score))))
        except Exception as error:  # the search records it as the trial's failure
            connection.send(("error", _sendable(error)))


def _sendable(error: Exception) -> Exception:
    """`error` if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
