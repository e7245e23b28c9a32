"""Discriminant analysis as an automl model family, plus an analysis, report sections and
a trial log.

A worked example of every kind of hook a third-party plugin can implement; see
docs/writing-plugins.md in the automl repository.
"""

from __future__ import annotations

import itertools
import json

import pandas as pd
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from automl import Analysis, ModelFamily, Option, ReportSection, hookimpl, qualified_name


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
    register(ReportSection(name="agreement", title="Where the families agree",
                           render=agreement_section))


def agreement(context):
    """Analysis: how often each pair of families predicts the same class on the test
    rows, and Cohen's kappa (agreement beyond chance): families that disagree are what an
    ensemble can gain from. It fits nothing: it reads the refitted models' predictions."""
    from sklearn.metrics import cohen_kappa_score
    predicted = {result.outcome.family.name: result.test.predictions
                 for result in context.results if result.test is not None}
    rows = [{"family_a": a, "family_b": b,
             "agreement": float((predicted[a] == predicted[b]).mean()),
             "kappa": float(cohen_kappa_score(predicted[a], predicted[b]))}
            for a, b in itertools.combinations(sorted(predicted), 2)]
    table = pd.DataFrame(rows, columns=["family_a", "family_b", "agreement", "kappa"])
    shown = context.options["agreement_pairs"]
    return {"agreement": table.sort_values("agreement", kind="stable").head(shown)}


AGREEMENT = Analysis(
    name="agreement", title="prediction agreement", run=agreement, cost=0,
    tables={"agreement": ["family_a", "family_b", "agreement", "kappa"]},
    task_types=frozenset({"classification"}), switch="agreement", options={
        "agreement": Option(bool, "Measure how often the families agree on the test rows "
                            "(plugin discriminant).", default=True),
        "agreement_pairs": Option(int, "Pairs shown, those that agree least first.",
                                  default=20, minimum=1)})


@hookimpl
def automl_register_analyses(register):
    register(AGREEMENT)


PAIRS = """<p>The pairs of families that agree least on the test rows first: kappa near 0
agrees no more than chance.</p><table><thead><tr><th>families</th><th>agreement</th>
<th>kappa</th></tr></thead><tbody>{% for row in rows %}<tr><td>{{ row.family_a }} and
{{ row.family_b }}</td><td>{{ "%.3f" | format(row.agreement) }}</td>
<td>{{ "%.3f" | format(row.kappa) }}</td></tr>{% endfor %}</tbody></table>"""


def agreement_section(context):
    """Report section of the analysis: its table, as the run wrote it."""
    table = context.tables["agreement"]
    return context.render(PAIRS, rows=table.to_dict("records")) if len(table) else None


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
