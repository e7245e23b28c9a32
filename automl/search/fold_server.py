"""The worker's side of `automl.search.worker`: ``python -m automl.search.fold_server FD``.

Messages, each pickled: ``("setup", (family, info, train, metric, folds, seed, device))``,
answered "ready"; ``("fold", params, fold)``, answered with the fold's score or the error
that ended it; ``("call", function, args)``, answered with ``function(*args)`` (a timed
probe fit); None, to exit. The search process kills it when a fold runs past its
trial's time limit.
"""

from __future__ import annotations

import pickle
import sys
from multiprocessing.connection import Connection

import numpy as np


def serve(connection: Connection) -> None:
    """Answer setups and folds until told to stop."""
    from automl.evaluate import cv_splitter, score_fold
    while True:
        try:
            message = connection.recv_bytes()
        except EOFError:  # the search process ended without saying so
            return
        try:
            request = pickle.loads(message)
        except Exception as error:  # a family that refers to what cannot be imported here
            connection.send(("error", sendable(error)))
            continue
        if request is None:
            return
        if request[0] == "setup":
            family, info, train, metric, folds, seed, device = request[1]
            splits = list(cv_splitter(info, folds, seed).split(train.X, train.y))
            connection.send(("ok", "ready"))
            continue
        try:
            if request[0] == "call":
                connection.send(("ok", request[1](*request[2])))
                continue
            _, params, fold = request
            score = score_fold(family, params, info, train, metric, splits[fold], seed,
                               device, fold)
            connection.send(("ok", float(np.float64(score))))
        except Exception as error:  # the search records it as the trial's failure
            connection.send(("error", sendable(error)))


def sendable(error: Exception) -> Exception:
    """`error` if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
