"""Would more data change the answer? The power law recovers a known curve, its check
flags a curve it cannot predict, crossings are found (or not) with a band, and a real
run writes the tables and the report section."""

import numpy as np
import pandas as pd
import pytest

from automl.analyses.extrapolation import (
    crossing,
    early_crossing,
    extrapolate,
    fit_curve,
    measured_crossing,
    power_law,
)


def points_of(a, b, c, sign=1.0, sizes=(50, 100, 250, 500, 1000), seeds=3, noise=0.002,
              seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"n_train": n, "seed": s,
                          "score": power_law(n, a, b, c, sign) + rng.normal(0, noise)}
                         for n in sizes for s in range(seeds)])


def test_the_fit_recovers_a_known_curve_and_its_check_passes():
    a, b, c = 0.95, 2.0, 0.6
    n = np.array([50, 100, 250, 500, 1000.0])
    assert fit_curve(n, power_law(n, a, b, c, 1.0), 1.0) == pytest.approx((a, b, c),
                                                                          rel=1e-3)
    found = extrapolate(points_of(a, b, c), 1.0, seed=0)
    assert found["reliable"] and found["check_error"] < found["check_bound"]
    truth = power_law(10_000, a, b, c, 1.0)  # 0.9405
    assert found["predicted_10x"] == pytest.approx(truth, abs=0.005)
    assert found["low_10x"] < found["predicted_10x"] < found["high_10x"]
    loss = extrapolate(points_of(0.1, 3.0, 0.5, sign=-1.0), -1.0, seed=0)  # a loss falls
    assert loss["predicted_10x"] < loss["measured_full"] and loss["reliable"]


def test_a_curve_the_early_sizes_cannot_predict_is_unreliable():
    rising = points_of(0.95, 2.0, 0.6)
    rising.loc[rising.n_train == 1000, "score"] += 0.08  # a jump only the full size shows
    found = extrapolate(rising, 1.0, seed=0)
    assert not found["reliable"] and found["check_error"] > found["check_bound"]
    assert extrapolate(points_of(0.9, 1.0, 0.5, sizes=(100, 1000)), 1.0, seed=0) is None


def test_a_steeper_curve_behind_now_is_predicted_to_cross_and_a_flat_one_not():
    flat = {"family": "knn", **extrapolate(points_of(0.90, 0.5, 0.5), 1.0, seed=0)}
    steep = {"family": "cnn", **extrapolate(points_of(0.99, 3.0, 0.45), 1.0, seed=1)}
    assert flat["measured_full"] > steep["measured_full"]  # the classical one leads now
    grid = np.geomspace(1000, 10_000, 200)
    found = crossing(flat, steep, 1.0, grid)
    assert found["leader_now"] == "knn" and found["crosses"]
    assert 1000 < found["crossing_rows"] < 10_000 and found["share_of_fits"] > 0.5
    assert found["low_rows"] <= found["crossing_rows"] <= found["high_rows"]
    parallel = {"family": "mlp", **extrapolate(points_of(0.85, 0.5, 0.5), 1.0, seed=2)}
    assert not crossing(flat, parallel, 1.0, grid)["crosses"]


def test_the_band_fits_each_distinct_draw_once_and_stops_at_the_cutoff(monkeypatch):
    """The band's bootstrap fits each distinct resampled curve once (with one seed a size
    every draw is the same curve: one fit, not 200), and a cutoff already reached leaves
    the fit without a band, with a note, instead of running past the stage's end."""
    from automl.analyses import extrapolation
    from automl.fitting.budget import StageCutoff, TimePlan
    calls = []
    real = extrapolation.fit_curve
    monkeypatch.setattr(extrapolation, "fit_curve",
                        lambda *args: calls.append(1) or real(*args))
    found = extrapolate(points_of(0.95, 2.0, 0.6, seeds=1), 1.0, seed=0)
    assert len(calls) == 3  # the fit, its check on the first half, and one bootstrap fit
    assert found["low_10x"] == found["high_10x"] == pytest.approx(found["predicted_10x"])
    calls.clear()
    extrapolate(points_of(0.95, 2.0, 0.6, seeds=2), 1.0, seed=0)
    assert 2 + 20 < len(calls) < 2 + extrapolation.BOOTSTRAP  # some of 3^5 draws repeat
    spent = StageCutoff(TimePlan(10.0, started=0.0), "analyses")  # ended long ago
    cut = extrapolate(points_of(0.95, 2.0, 0.6), 1.0, seed=0, cutoff=spent)
    assert cut["predicted_10x"] == pytest.approx(found["predicted_10x"], abs=0.01)
    assert np.isnan(cut["low_10x"]) and np.isnan(cut["high_10x"])
    assert spent.notes == ["the learning-curve extrapolation's band cut short: the time "
                           "limit's analyses stage ended at 9 s"]


def test_a_crossing_inside_the_data_is_measured_and_predicted_from_the_first_half():
    sizes = (50, 100, 200, 400, 800, 1600)
    flat = extrapolate(points_of(0.90, 0.5, 0.5, sizes=sizes), 1.0, seed=0)
    steep = extrapolate(points_of(0.97, 20, 0.9, sizes=sizes), 1.0, seed=0)
    flat["family"], steep["family"] = "flat", "steep"
    # The steep curve passes the flat one at about 380 rows: measured from 400 on, and
    # predicted near there by fits that saw the sizes up to 800 only.
    assert measured_crossing(flat, steep) == 400
    assert 250 <= early_crossing(flat, steep, 1.0) <= 600
    assert np.isnan(measured_crossing(flat, flat))


def test_a_run_writes_the_extrapolation_and_its_section(write_task, tmp_path):
    from automl.engine.plugins import build_registry
    from automl.engine.run import run_task
    from automl.engine.task import load_task
    task = write_task('[dataset]\nname = "digits"\n[families]\n'
                      'include = ["logistic_regression", "mlp"]\n[search]\nn_trials = 1\n'
                      'cv_folds = 3\n[report]\nseeds = 2\ncurve_seeds = 2\n'
                      'learning_curve = [0.1, 0.2, 0.3, 0.5, 1.0]\nimportances = false\n'
                      'ensemble = false\n')
    run_task(load_task(task), build_registry())
    table = pd.read_csv(tmp_path / "out" / "extrapolation.csv").set_index("family")
    assert set(table.index) == {"logistic_regression", "mlp"}
    assert (table.n_full == 1437).all() and table.check_error.notna().all()
    assert (table.predicted_10x >= table.measured_full - 0.05).all()
    pairs = pd.read_csv(tmp_path / "out" / "crossing.csv")
    assert set(pairs.iloc[0][["family_a", "family_b"]]) == {"logistic_regression", "mlp"}
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Would more data change the answer?" in html and "power law" in html
