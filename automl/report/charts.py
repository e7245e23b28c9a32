"""The report's plots as Vega-Lite specifications.

A spec is plain JSON: the HTML report embeds it and draws it in the browser with the
Vega libraries (inlined once, see `vega_script`), where a reader can hover any mark for its
values and zoom (scroll) or pan (drag) the scatter and line plots; `static_svg` draws the
same spec without a browser, for the printable image written beside the report. Both come
from the `vl-convert-python` wheel, which bundles Vega, Vega-Lite and a renderer, so
nothing is fetched from the network, at run time or when the page is opened.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

import pandas as pd

KIND_COLOURS = {"domain": ["classical", "deep", "ensemble"],
                "range": ["#3b6ea8", "#c8553d", "#6a8f3a"]}
# Scroll to zoom, drag to pan, double-click to reset.
ZOOM = {"name": "zoom", "select": "interval", "bind": "scales"}
WIDTH, HEIGHT = 380, 220


@dataclass(frozen=True)
class Chart:
    """One plot: a file-safe `name` (unique within a report) and its Vega-Lite `spec`."""

    name: str
    spec: dict

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9_-]+", "-", self.name.lower()).strip("-")


@functools.cache
def vega_script() -> str:
    """Vega, Vega-Lite and vega-embed as one script defining `vegaEmbed` (about 900 kB)."""
    import vl_convert
    return vl_convert.javascript_bundle()


def static_svg(chart: Chart) -> str:
    import vl_convert
    return vl_convert.vegalite_to_svg(chart.spec)


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN becomes null, numpy scalars plain numbers)."""
    return json.loads(frame.to_json(orient="records"))


def _spec(title: str, frame: pd.DataFrame, **rest) -> dict:
    return {"title": title, "width": WIDTH, "height": HEIGHT,
            "data": {"values": records(frame)}, **rest}


def _axis(field: str, title: str, *, log: bool = False, zero: bool = False,
          kind: str = "quantitative") -> dict:
    # nice=False keeps a log axis to the data's decades instead of rounding out to whole ones.
    if log:
        scale = {"type": "log", "nice": False}
        # Label only the 1, 2 and 5 of each decade: Vega labels every tick of a short
        # log axis, and 600, 700, 800 run into each other.
        label = "test(/^0*[.]?0*[125]0*$/, replace(datum.label, ',', '')) ? datum.label : ''"
        return {"field": field, "type": kind, "title": title, "scale": scale,
                "axis": {"labelExpr": label}}
    return {"field": field, "type": kind, "title": title, "scale": {"zero": zero}}


def _tooltip(*fields: str | tuple[str, ...]) -> list[dict]:
    """Tooltip channels, each a field name or (name, d3 number format[, title])."""
    channels = []
    for field in fields:
        name, *rest = (field,) if isinstance(field, str) else field
        channel = {"field": name}
        if rest:
            channel["format"] = rest[0]
        if len(rest) > 1:
            channel["title"] = rest[1]
        channels.append(channel)
    return channels


def cost_chart(name: str, points: pd.DataFrame, cost_title: str, score_title: str) -> Chart:
    """Score against a cost on a log scale, a point per family coloured by kind; the
    families on the Pareto front (column `on_front`) joined by a dashed line.

    `points` has columns family, kind, cost, score and on_front.
    """
    x, y = _axis("cost", cost_title, log=True), _axis("score", score_title)
    for axis in (x, y):  # room for the points at the ends of the axes
        axis["scale"]["padding"] = 12
    tooltip = _tooltip("family", "kind", ("cost", ".4g"), ("score", ".4f"))
    return Chart(name, _spec(f"{score_title} by {cost_title}", points, layer=[
        {"transform": [{"filter": "datum.on_front"}],
         "mark": {"type": "line", "strokeDash": [4, 3], "color": "#999"},
         "encoding": {"x": x, "y": y, "order": {"field": "cost"}}},
        {"params": [ZOOM], "mark": {"type": "point", "filled": True, "size": 70},
         "encoding": {"x": x, "y": y, "tooltip": tooltip,
                      "color": {"field": "kind", "scale": KIND_COLOURS}}},
        {"mark": {"type": "text", "align": "left", "dx": 6, "dy": -6, "fontSize": 10},
         "encoding": {"x": x, "y": y, "text": {"field": "family"}}},
    ]))


def bar_chart(name: str, bars: pd.DataFrame, title: str) -> Chart:
    """A horizontal bar per row of `bars` (columns label, kind, value), coloured by kind,
    in the frame's order."""
    height = max(60, 20 * len(bars))
    return Chart(name, _spec(title, bars, height=height, mark={"type": "bar"}, encoding={
        "y": {"field": "label", "type": "nominal", "sort": None, "title": None},
        "x": _axis("value", title, zero=True),
        "color": {"field": "kind", "scale": KIND_COLOURS},
        "tooltip": _tooltip("label", "kind", ("value", ".4g"))}))


def band_chart(name: str, lines: pd.DataFrame, title: str, x_title: str, y_title: str,
               *, log_x: bool = False, step: bool = False) -> Chart:
    """A line per series, with a shaded band from `low` to `high` where `lines` has those
    columns.

    `lines` has columns series, x and y, and optionally low and high.
    """
    x = _axis("x", x_title, log=log_x)
    # Both layers share the colour scale; the legend shows the lines at full opacity.
    colour = {"field": "series", "type": "nominal", "title": None,
              "legend": {"symbolType": "stroke", "symbolOpacity": 1, "symbolStrokeWidth": 2}}
    tooltip = _tooltip("series", ("x", ".4g", x_title), ("y", ".4f", y_title))
    line = {"type": "line", "point": True}
    if step:
        line["interpolate"] = "step-after"
    layers = [{"params": [ZOOM], "mark": line,
               "encoding": {"x": x, "y": _axis("y", y_title), "color": colour,
                            "tooltip": tooltip}}]
    if "low" in lines:
        tooltip += _tooltip(("low", ".4f"), ("high", ".4f"))
        layers.insert(0, {"mark": {"type": "area", "opacity": 0.15}, "encoding": {
            "x": x, "y": _axis("low", y_title), "y2": {"field": "high"}, "color": colour}})
    return Chart(name, _spec(title, lines, layer=layers))


def param_chart(name: str, trials: pd.DataFrame, title: str, y_title: str,
                param: str) -> Chart:
    """Every trial's score against one of its parameters (a family's `report_params`); the
    best trial of each value in orange.

    `trials` has columns trial, `param`, score and best (bool).
    """
    x = _axis(param, param)
    if pd.api.types.is_integer_dtype(trials[param]):
        x["axis"] = {"tickMinStep": 1, "format": "d"}
    return Chart(name, _spec(title, trials, width=260, params=[ZOOM],
                             mark={"type": "point", "filled": True, "size": 50}, encoding={
        "x": x,
        "y": _axis("score", y_title),
        "color": {"field": "best", "type": "nominal", "title": f"best of its {param}",
                  "scale": {"domain": [True, False], "range": ["#e07b24", "#8aa4c8"]}},
        "tooltip": _tooltip("trial", param, ("score", ".4f"))}))


def interval_chart(name: str, intervals: pd.DataFrame, title: str) -> Chart:
    """A dot per family at its mean with its interval as a line.

    `intervals` has columns family, mean, low and high.
    """
    y = {"field": "family", "type": "nominal", "sort": None, "title": None}
    tooltip = _tooltip("family", ("mean", ".4f"), ("low", ".4f"), ("high", ".4f"))
    height = max(60, 26 * len(intervals))
    return Chart(name, _spec(title, intervals, height=height, layer=[
        {"mark": {"type": "rule", "color": "#555"},
         "encoding": {"y": y, "x": _axis("low", title), "x2": {"field": "high"}}},
        {"mark": {"type": "point", "filled": True, "size": 70, "color": "#3b6ea8"},
         "encoding": {"y": y, "x": _axis("mean", title), "tooltip": tooltip}},
    ]))


def group_interval_chart(name: str, intervals: pd.DataFrame, title: str) -> Chart:
    """A row per family, and within it a dot per group at its score with its interval as
    a line, coloured by group; a hollow dot marks a group too small to rank.

    `intervals` has columns family, group, score, low, high and ranked.
    """
    groups = intervals["group"].nunique()
    y = {"field": "family", "type": "nominal", "sort": None, "title": None}
    offset = {"field": "group", "type": "nominal"}
    colour = {"field": "group", "type": "nominal", "title": None}
    tooltip = _tooltip("family", "group", ("score", ".4f"), ("low", ".4f"),
                       ("high", ".4f"), "rows")
    height = max(60, (10 + 8 * groups) * intervals["family"].nunique())
    return Chart(name, _spec(title, intervals, height=height, layer=[
        {"mark": {"type": "rule"},
         "encoding": {"y": y, "yOffset": offset, "color": colour,
                      "x": _axis("low", title), "x2": {"field": "high"}}},
        {"mark": {"type": "point", "size": 50},
         "encoding": {"y": y, "yOffset": offset, "color": colour, "tooltip": tooltip,
                      "x": _axis("score", title),
                      "fill": {"condition": {"test": "datum.ranked", "field": "group",
                                             "type": "nominal", "legend": None},
                               "value": "white"}}},
    ]))


def heatmap_chart(name: str, cells: pd.DataFrame, x: str, y: str, title: str,
                  y_order: list[str], *, diverging: bool = False) -> Chart:
    """A cell per row of `cells` (columns `x`, `y` and value), shaded by value: from
    white (0) to red (1), or blue (-1) to red (1) when `diverging`; `y_order` orders the
    rows (and, when diverging, the columns)."""
    scale = ({"scheme": "redblue", "reverse": True, "domain": [-1, 1]} if diverging
             else {"range": ["#ffffff", "#a50f15"], "domain": [0, 1], "clamp": True})
    x_sort = y_order if diverging else None
    height = max(60, 18 * len(y_order))
    return Chart(name, _spec(title, cells, height=height, mark={"type": "rect"}, encoding={
        "x": {"field": x, "type": "nominal", "sort": x_sort, "title": None,
              "axis": {"labelAngle": -40}},
        "y": {"field": y, "type": "nominal", "sort": y_order, "title": None},
        "color": {"field": "value", "type": "quantitative", "scale": scale, "title": None},
        "tooltip": _tooltip(x, y, ("value", ".3f"))}))
