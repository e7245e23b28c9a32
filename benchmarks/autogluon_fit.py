"""AutoGluon Tabular on one table, for `benchmarks.tabular`; run in AutoGluon's own Python:

    python -m benchmarks.autogluon_fit TRAIN.csv TEST.csv TARGET TASK_TYPE SECONDS FOLDER

Fits ``TabularPredictor(...).fit(train, time_limit=SECONDS, presets="medium_quality")``
and prints one JSON line: the test score (accuracy, or RMSE for regression) and the
best model's name.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd


def main(train_csv, test_csv, target, task_type, seconds, folder) -> None:
    from autogluon.tabular import TabularPredictor
    train, test = pd.read_csv(train_csv), pd.read_csv(test_csv)
    classification = task_type == "classification"
    predictor = TabularPredictor(
        label=target, path=folder, verbosity=0,
        problem_type=None if classification else "regression",
        eval_metric="accuracy" if classification else "root_mean_squared_error",
    ).fit(train, time_limit=float(seconds), presets="medium_quality")
    predicted = predictor.predict(test.drop(columns=[target]))
    truth = test[target]
    if classification:
        score = float((predicted.astype(str).to_numpy() == truth.astype(str).to_numpy()).mean())
    else:
        score = float(np.sqrt(np.mean((predicted.to_numpy() - truth.to_numpy()) ** 2)))
    print(json.dumps({"score": score, "model": predictor.model_best}))


if __name__ == "__main__":
    main(*sys.argv[1:7])
