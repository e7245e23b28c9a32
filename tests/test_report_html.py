"""The report's building blocks: plot specs, the Pareto front, escaping inside scripts."""

import json
import re

import pandas as pd

from automl.report.builtin import cost_points, pareto_front
from automl.report.charts import Chart, bar_chart, static_svg
from automl.report.context import Figures


def test_pareto_front_keeps_the_points_no_other_beats_on_cost_and_score():
    points = [(1.0, 0.90), (2.0, 0.95), (3.0, 0.93), (0.5, 0.80), (4.0, 0.99)]
    assert pareto_front(points, maximize=True) == [3, 0, 1, 4]
    assert pareto_front([(1.0, 0.2), (2.0, 0.1)], maximize=False) == [0, 1]


def test_cost_points_leave_out_families_without_a_score_or_cost():
    board = pd.DataFrame({"family": ["a", "b", "c"], "kind": ["classical", "deep", "deep"],
                          "test_accuracy": [0.9, 0.95, None], "fit_s": [0.1, 2.0, 1.0]})
    points = cost_points(board, "test_accuracy", "fit_s", "maximize")
    assert list(points["family"]) == ["a", "b"] and points["on_front"].all()


def test_data_that_contains_a_closing_script_tag_cannot_end_the_spec_script():
    hostile = "</script><script>alert(1)</script>"
    bars = pd.DataFrame({"label": [hostile], "kind": ["classical"], "value": [1.0]})
    figures = Figures()
    markup = figures.add(bar_chart("bars", bars, "title"))
    assert "</script><script>alert(1)" not in markup
    spec = re.search(r'<script type="application/json" id="plot-1">(.*?)</script>',
                     markup).group(1)
    assert json.loads(spec)["data"]["values"][0]["label"] == hostile
    assert figures.charts[0].slug == "bars"


def test_a_static_image_is_drawn_without_a_browser():
    bars = pd.DataFrame({"label": ["knn", "cnn"], "kind": ["classical", "deep"],
                         "value": [0.5, 0.75]})
    svg = static_svg(bar_chart("bars", bars, "test accuracy"))
    assert svg.startswith("<svg") and ">test accuracy</text>" in svg
    assert ">knn</text>" in svg and ">cnn</text>" in svg


def test_chart_slugs_are_safe_file_names():
    assert Chart("Depth of <MLP>/x", {}).slug == "depth-of-mlp-x"
