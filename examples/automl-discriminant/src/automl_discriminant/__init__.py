"""Discriminant analysis as an automl model family, plus a report section and a trial log.

A worked example of every kind of hook a third-party plugin can implement; see
docs/writing-plugins.md in the automl repository.
"""

from __future__ import annotations

import json

from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from automl import ModelFamily, ReportSection, hookimpl, qualified_name


def flatten(X):
    """Images and sequences arrive as (n, ...) arrays; the models want (n, features)."""
    return X.reshape(len(X), -1)


def search_space(trial, info):
    """Linear or quadratic boundaries, each with its own regularisation."""
    variant = trial.suggest_categorical("variant", ["linear", "quadratic"])
    if variant == "linear":
        return {"variant": variant, "shrinkage": trial.suggest_float("shrinkage", 0.0, 1.0)}
    return {"variant": variant, "shrinkage": trial.suggest_float("q_shrinkage", 0.01, 1.0)}


def build(params, info, seed, device):
    """An unfitted estimator; discriminant analysis has no randomness, so seed and device
    are not needed."""
    if params["variant"] == "linear":
        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=params["shrinkage"])
    else:
        # Shrunk covariances stay invertible with fewer samples per class than features.
        model = QuadraticDiscriminantAnalysis(solver="eigen", shrinkage=params["shrinkage"])
    # Shrinkage pulls covariances towards a multiple of the identity, which suits
    # standardised features.
    return make_pipeline(FunctionTransformer(flatten), StandardScaler(), model)


FAMILY = ModelFamily(
    name="discriminant_analysis",
    kind="classical",
    task_types=frozenset({"classification"}),
    input_kinds=frozenset({"tabular", "image", "sequence"}),
    search_space=search_space,
    build=build,
    description="linear or quadratic discriminant analysis (example plugin)",
    saved_types=frozenset({qualified_name(flatten)}),  # the function its pipeline holds
)


@hookimpl
def automl_register_models(register):
    register(FAMILY)


ROWS = """<table><thead><tr><th>family</th><th>trials</th><th>seconds</th>
<th>trials per second</th></tr></thead><tbody>{% for row in rows %}<tr><td>{{ row.family }}</td>
<td>{{ row.trials }}</td><td>{{ "%.1f" | format(row.seconds) }}</td>
<td>{{ "%.1f" | format(row.rate) }}</td></tr>{% endfor %}</tbody></table>"""


def trials_per_second(context):
    """Report section: how many trials each family finished per second of search. The
    template escapes what it shows (family names come from plugins)."""
    rows = []
    for family, group in context.tables["trials"].groupby("family"):
        seconds = group["duration_s"].sum()
        rows.append({"family": family, "trials": len(group), "seconds": seconds,
                     "rate": len(group) / seconds if seconds > 0 else float("inf")})
    return context.render(ROWS, rows=rows)


@hookimpl
def automl_register_report_sections(register):
    register(ReportSection(name="trial_rate", title="Trials per second",
                           render=trials_per_second))


# The observers below keep a log of the run in its output folder.
_finished = []


@hookimpl
def automl_trial_finished(family, trial):
    _finished.append({"family": family, "trial": trial.number, "state": trial.state.name,
                      "value": trial.value})


@hookimpl
def automl_run_finished(record):
    log = record.folder / "discriminant_trial_log.jsonl"
    log.write_text("".join(json.dumps(entry) + "\n" for entry in _finished))
    _finished.clear()
