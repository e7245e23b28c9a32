"""FLAML's AutoML read at several budgets: ``python -m benchmarks.flaml_search DATASET
30,60,120`` runs ``AutoML.fit(time_budget=largest)`` (seed 0, every core) and prints one
JSON list: per budget, the test accuracy of the best configuration FLAML had found by
then (its ``config_history``), refitted on the training split as FLAML refits its final
choice. FLAML's search does not plan by its budget, so this reads it as it stood at each
moment, and costs one run instead of one per budget."""

from __future__ import annotations

import json
import os
import sys
import time

from benchmarks.data import dataset, flat
from benchmarks.quality import test_accuracy


def main(name: str, budgets: list[float]) -> list[dict]:
    from flaml import AutoML
    data = dataset(name)
    X, y = flat(data.train.X), data.train.y
    automl = AutoML()
    start = time.perf_counter()
    automl.fit(X, y, task="classification", metric="accuracy", time_budget=max(budgets),
               seed=0, verbose=0, n_jobs=os.cpu_count())
    wall = time.perf_counter() - start
    found = sorted(automl.config_history.values(), key=lambda entry: entry[2])
    results = []
    for budget in budgets:
        known = [entry for entry in found if entry[2] <= budget]
        if not known:
            results.append({"budget": budget, "accuracy": float("nan"), "estimator": "none",
                            "wall": wall})
            continue
        estimator, config, _ = known[-1]  # the history holds each new best in turn
        config = {k: v for k, v in config.items() if not k.startswith("FLAML_")}
        model = automl._state.learner_classes[estimator](
            task="classification", n_jobs=os.cpu_count(), **config)
        model.fit(X, y)
        results.append({"budget": budget, "accuracy": test_accuracy(model, data),
                        "estimator": estimator, "wall": wall})
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], [float(b) for b in sys.argv[2].split(",")])))
