"""The worker's side of `automl.fitting.stoppable`: ``python -m automl.fitting.fold_server FD``.

Messages, each pickled: ``("setup", (family, info, train, metric, folds, seed, device))``,
answered "ready"; ``("fold", params, fold)``, answered with the fold's score or the error
that ended it; ``("hold", key, value)``, answered "ready"; ``("call", function, args)``,
answered with ``function(*args)`` (a timed probe, a refit, an analysis's fit), a `Held`
argument standing for what was held under its key; None, to exit. The search process
kills it when a fold (or a call) runs past its time limit.
"""

from __future__ import annotations

import pickle
import sys
from multiprocessing.connection import Connection

import numpy as np


def serve(connection: Connection) -> None:
    """Answer setups and folds until told to stop."""
    from automl.data.folds import task_folds
    from automl.fitting.evaluate import score_fold
    from automl.fitting.stoppable import Held  # not defined here: this module runs as __main__
    held = {}
    while True:
        try:
            message = connection.recv_bytes()
        except EOFError:  # the search process ended without saying so
            return
        try:
            request = pickle.loads(message)  # noqa: S301 (our own process's pipe)
        except Exception as error:  # a family that refers to what cannot be imported here
            connection.send(("error", sendable(error)))
            continue
        if request is None:
            return
        if request[0] == "setup":
            family, info, train, metric, folds, seed, device = request[1]
            splits = task_folds(info, train, folds, seed)
            connection.send(("ok", "ready"))
            continue
        if request[0] == "hold":
            held[request[1]] = request[2]
            connection.send(("ok", "ready"))
            continue
        if request[0] == "call":
            call(connection, request[1], [held[arg.key] if isinstance(arg, Held) else arg
                                          for arg in request[2]])
            continue
        try:
            _, params, fold = request
            score, outputs, *seconds = score_fold(family, params, info, train, metric,
                                                  splits[fold], seed, device, fold)
            connection.send(("ok", (float(np.float64(score)), outputs, *seconds)))
        except Exception as error:  # the search records it as the trial's failure
            connection.send(("error", sendable(error)))


def call(connection: Connection, function, args: list) -> None:
    """Answer ``function(*args)``: its value, the error it raised, or "unsendable" where
    the value cannot be pickled (the search process then calls it itself)."""
    try:
        value = function(*args)
    except Exception as error:
        connection.send(("error", sendable(error)))
        return
    try:
        connection.send(("ok", value))  # pickled whole before a byte is written
    except Exception as error:
        connection.send(("unsendable", f"{type(error).__name__}: {error}"))


def sendable(error: Exception) -> Exception:
    """`error` if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 (what we just pickled)
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
