"""Would more search change the answer? A search whose best score follows a known power
law of its seconds is recovered and passes its check; a search still climbing at its
end fails it; pruned and failed trials count their seconds and no score; a real run
writes the table and its report section."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from optuna.trial import FrozenTrial, TrialState

from automl.analyses.extrapolation import power_law
from automl.analyses.search_budget import extrapolate_search, search_curve


def trials_of(values, seconds=1.0, states=None):
    """Trials of `seconds` each, in order, with these values (a state per trial)."""
    start = datetime(2026, 1, 1)
    found = []
    for number, value in enumerate(values):
        state = (states or {}).get(number, TrialState.COMPLETE)
        begin = start + timedelta(seconds=number * seconds)
        found.append(FrozenTrial(
            number, state, value if state == TrialState.COMPLETE else None, begin,
            begin + timedelta(seconds=seconds), {}, {},
            {"cv_scores": [value - 0.002, value + 0.002]} if value is not None else {},
            {}, {}, number))
    return found


def test_a_search_that_follows_a_power_law_is_recovered_and_passes_its_check():
    seconds = np.arange(1, 41, dtype=float)
    values = power_law(seconds, 0.95, 0.2, 0.7, 1.0)
    curve = search_curve(trials_of(values), 1.0)
    assert len(curve) == 40 and curve.seconds.iloc[-1] == pytest.approx(40)
    row = extrapolate_search(curve, 1.0)
    assert row["reliable"] and row["check_error"] < 0.005
    assert row["a"] == pytest.approx(0.95, abs=0.01)
    assert row["predicted_10x"] == pytest.approx(power_law(400, 0.95, 0.2, 0.7, 1.0),
                                                 abs=0.005)
    assert row["best_now"] < row["predicted_2x"] < row["predicted_10x"] <= 1.0


def test_a_search_that_jumps_late_fails_its_check():
    values = [0.70] * 20 + [0.70 + 0.01 * k for k in range(1, 21)]
    row = extrapolate_search(search_curve(trials_of(values), 1.0), 1.0)
    assert row is not None and not row["reliable"]
    assert row["check_error"] > row["check_bound"]


def test_pruned_and_failed_trials_cost_seconds_and_give_no_point():
    trials = trials_of([0.5, None, 0.6, None, 0.55, None], seconds=2.0,
                       states={1: TrialState.PRUNED, 3: TrialState.FAIL,
                               5: TrialState.PRUNED})
    curve = search_curve(trials, 1.0)
    assert curve.seconds.tolist() == [2.0, 6.0, 10.0, 12.0]  # the search's end
    assert curve.best.tolist() == [0.5, 0.6, 0.6, 0.6]
    assert curve.complete.tolist() == [True, True, True, False]
    assert extrapolate_search(curve, 1.0) is None  # three scores: too few to fit
    assert search_curve(trials, -1.0).best.tolist() == [0.5, 0.5, 0.5, 0.5]


def test_a_run_writes_the_search_extrapolation_and_its_section(run_written):
    out = run_written('[dataset]\nname = "breast_cancer"\n[families]\n'
                      'include = ["logistic_regression", "knn"]\n[search]\nn_trials = 8\n'
                      'cv_folds = 3\n[report]\nseeds = 0\nlearning_curve = []\n'
                      'importances = false\nensemble = false\n')
    table = pd.read_csv(out / "search_extrapolation.csv").set_index("family")
    trials = pd.read_csv(out / "trials.csv")
    assert set(table.index) == {"logistic_regression", "knn"}
    for family, row in table.iterrows():
        own = trials[trials.family == family]
        assert row.trials == (own.state == "complete").sum()
        assert row.best_now == pytest.approx(own.cv_mean.max())
        assert row.seconds == pytest.approx(own.duration_s.sum(), rel=1e-6)
        assert row.best_now - 1e-9 <= row.predicted_10x <= 1.0
    html = (out / "index.html").read_text()
    assert "Would more search change the answer?" in html
    assert "with 10x its search seconds" in html
