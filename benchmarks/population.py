"""Populations: trials of one architecture trained one by one (on one compiled program)
against trained together as one ``jax.vmap``'d program, the engine's choice on
accelerators. Each member trains 10 epochs with its own learning rate; samples/s counts
every member's training samples over the training time (compiling apart). On a CPU the
issue's own figures expect about 1x; on a GPU this is the lever."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.table import Row
from benchmarks.throughput import NETWORKS, engine_estimator, split

SECTION = "6. Populations of trials: one by one against together (vmap)"
EPOCHS = 10


def fit(params: dict, size: int, together: bool) -> dict:
    from automl_plugins.deep.estimator import fit_population
    X, y, _ = split("digits", params["network"])
    members = [engine_estimator(params, learning_rate=float(rate), max_epochs=EPOCHS,
                                patience=EPOCHS, dropout=0.1)
               for rate in np.geomspace(3e-4, 3e-3, size)]
    start = time.perf_counter()
    fit_population(members, X, y, (X[:200], y[:200]), together=together)
    wall = time.perf_counter() - start
    # together, every member reports the population's shared time
    train = members[0].train_seconds_ if together else sum(m.train_seconds_ for m in members)
    return {"wall": wall, "samples/s": size * EPOCHS * (len(X) // 128 * 128) / train,
            "device": members[0].device_}


def run(settings) -> list[Row]:
    rows = []
    for network, (name, params, _) in NETWORKS.items():
        if name != "digits":
            continue
        for size in settings.population_sizes:
            what = f"{network}, {size} trials"
            results = {together: fit(params, size, together) for together in (False, True)}
            for together, result in results.items():
                tool = "together (vmap)" if together else "one by one"
                rows.append(Row(SECTION, what, tool, result["samples/s"], "samples/s",
                                f"{result['wall']:.2f} s wall, on "
                                f"{result['device']}"))
            rows.append(Row(SECTION, what, "together / one by one",
                            results[True]["samples/s"] / results[False]["samples/s"], "x",
                            "training throughput"))
    return rows
