"""The plain Optuna + scikit-learn script a user would write, read at several budgets:
``python -m benchmarks.optuna_search DATASET 30,60,120`` runs one search for the largest
budget and prints, per budget, the test accuracy of the best trial (by 5-fold CV)
finished by then, refitted on the training split. The search is stopped at the largest
budget: Optuna's own timeout lets a running trial finish (one SVC trial on MNIST-1D ran
90 s past it), and a trial finished later could not count at any budget."""

from __future__ import annotations

import json
import signal
import sys
import time

import numpy as np
import optuna
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from benchmarks.data import dataset, flat
from benchmarks.quality import test_accuracy


def model(trial):
    kind = trial.suggest_categorical("model", ["svc", "random_forest", "logistic", "knn"])
    if kind == "svc":
        estimator = SVC(C=trial.suggest_float("C", 1e-2, 1e3, log=True),
                        gamma=trial.suggest_float("gamma", 1e-4, 1, log=True))
    elif kind == "random_forest":
        estimator = RandomForestClassifier(
            n_estimators=trial.suggest_int("n_estimators", 50, 300),
            max_features=trial.suggest_float("max_features", 0.05, 1.0), random_state=0,
            n_jobs=-1)
    elif kind == "logistic":
        estimator = LogisticRegression(C=trial.suggest_float("C_lr", 1e-3, 1e2, log=True),
                                       max_iter=2000)
    else:
        estimator = KNeighborsClassifier(trial.suggest_int("n_neighbors", 1, 15))
    return make_pipeline(StandardScaler(), estimator)


class BudgetSpent(BaseException):
    """The largest budget is over (not an `Exception`: scikit-learn's cross-validation
    would record it as a failed fit and go on)."""


def _stop(signum, frame):
    raise BudgetSpent


def main(name: str, budgets: list[float]) -> list[dict]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = dataset(name)
    X, y = flat(data.train.X), data.train.y
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    start = time.perf_counter()
    finished_at = []

    def objective(trial):
        score = float(np.mean(cross_val_score(model(trial), X, y, cv=5)))
        finished_at.append(time.perf_counter() - start)
        return score

    signal.signal(signal.SIGALRM, _stop)
    signal.setitimer(signal.ITIMER_REAL, max(budgets))
    try:
        study.optimize(objective, timeout=max(budgets))
    except BudgetSpent:  # the running trial is recorded as failed; it finished too late
        pass
    finally:  # the refits below must not be stopped
        signal.setitimer(signal.ITIMER_REAL, 0)
    results = []
    for budget in budgets:
        done = [t for t, at in zip(study.trials, finished_at, strict=False) if at <= budget]
        if not done:
            results.append({"budget": budget, "accuracy": float("nan"), "model": "none",
                            "trials": 0})
            continue
        best = max(done, key=lambda t: t.value)
        fitted = model(optuna.trial.FixedTrial(best.params)).fit(X, y)
        results.append({"budget": budget, "accuracy": test_accuracy(fitted, data),
                        "model": best.params["model"], "trials": len(done)})
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], [float(b) for b in sys.argv[2].split(",")])))
