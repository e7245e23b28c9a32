"""The built-in analyses, registered through the same hook as a plugin's (this module is
the built-in plugin ``analyses``). Each is a thin `Analysis` around the functions that do
the work (`automl.analyses.ensemble`, `automl.analyses.measures`, `automl.analyses.depth`,
`automl.analyses.explain`); its task-file keys are declared here, under ``[report]``."""

from __future__ import annotations

import pandas as pd

from automl import hookimpl
from automl.analyses.api import Analysis, AnalysisContext
from automl.analyses.depth import COLUMNS as DEPTH_COLUMNS
from automl.analyses.depth import depth_range, depth_sweep
from automl.analyses.ensemble import NAME as ENSEMBLE
from automl.analyses.ensemble import WEIGHT_COLUMNS, combine, seed_outputs
from automl.analyses.explain import COLUMNS as EXPLAIN_COLUMNS
from automl.analyses.explain import importances_of
from automl.analyses.extrapolation import EXTRAPOLATION
from automl.analyses.measures import (
    COMPARISON_COLUMNS,
    CURVE_COLUMNS,
    FEATURE_COLUMNS,
    IMPORTANCE_COLUMNS,
    SEED_COLUMNS,
    compare,
    feature_comparison,
    importances,
    learning_curves,
    seed_scores,
)
from automl.analyses.search_budget import SEARCH_BUDGET
from automl.analyses.serving import SERVING
from automl.analyses.subgroups import SUBGROUPS
from automl.api.schema import Option


def _ensemble(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    together = combine(context.results, context.dataset, context.metric, context.metrics,
                       context.seed, context.folds, context.device, context.progress,
                       context.cutoff)
    context.shared["ensemble"] = together  # its test over seeds is the seed comparison's
    if together.row:
        context.add_to_leaderboard(together.row, together.predictions)
    return {"ensemble": together.weights}


ENSEMBLE_ANALYSIS = Analysis(
    name="ensemble", title="ensemble", run=_ensemble, order=100, cost=1,
    tables={"ensemble": WEIGHT_COLUMNS}, switch="ensemble", options={
        "ensemble": Option(bool, "Add an `ensemble` row: greedy ensemble selection "
                           "(Caruana et al., 2004) over the families' refitted models, its "
                           "weights chosen on the out-of-fold predictions the search's "
                           "folds gave each family's best configuration (no extra fits). "
                           "It is ranked by its out-of-fold score like any family, and "
                           "`predict` blends the members' saved models when it ranks "
                           "first. Under a time limit it runs in the analyses' share, as "
                           "time allows.", default=True)})


def _seed_comparison(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    together = context.shared.get("ensemble")
    blended = together.seed_families if together is not None else set()
    refitted = sorted({name for pair in context.pairs for name in pair} | blended)
    if refitted:
        context.progress.message(f"refitting {', '.join(refitted)} with {context.seeds} "
                                 "seeds to compare them")
    outputs = seed_outputs(context.results, set(refitted), context.dataset, context.seeds,
                           context.device, context.cutoff)
    seeds = seed_scores(outputs, set(refitted), context.dataset, context.metric)
    tested = list(context.pairs)
    if together is not None:
        blends = together.seed_blends(outputs, context.dataset, context.metric)
        if not blends.empty:
            seeds = pd.concat([seeds, blends], ignore_index=True)
            tested.append((ENSEMBLE, together.single))
    return {"seed_scores": seeds, "comparison": compare(seeds, tested)}


SEED_COMPARISON = Analysis(
    name="seed_comparison", title="repeated seeds", run=_seed_comparison, order=200,
    cost=3, tables={"seed_scores": SEED_COLUMNS, "comparison": COMPARISON_COLUMNS},
    applies=lambda context: context.seeds > 0)


def _learning_curves(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    curves = learning_curves(
        context.results, context.dataset, context.metric,
        sorted(context.options["learning_curve"]), context.options["curve_seeds"],
        context.device, cutoff=context.cutoff,
        on_family=lambda name: context.progress.message(f"learning curve of {name}"))
    return {"learning_curves": curves}


LEARNING_CURVES = Analysis(
    name="learning_curves", title="learning curves", run=_learning_curves, order=300,
    cost=3, tables={"learning_curves": CURVE_COLUMNS},
    applies=lambda context: bool(context.options["learning_curve"]), options={
        "learning_curve": Option(list, "Shares of the training split on which each "
                                 "family's best configuration is retrained and tested "
                                 "(learning curves); an empty list skips them.",
                                 items=float, default=[0.05, 0.1, 0.25, 0.5, 1.0],
                                 minimum=0, maximum=1, exclusive_minimum=True),
        "curve_seeds": Option(int, "Seeds (subsample and model) per learning-curve point.",
                              default=3, minimum=1, maximum=20)})


def _depth_sweep(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    context.progress.message("refitting the deep families at every depth of their range")
    return {"depth_sweep": depth_sweep(context.results, context.dataset, context.metric,
                                       context.seeds, context.device, context.cutoff)}


DEPTH_SWEEP = Analysis(
    name="depth_sweep", title="depth sweep", run=_depth_sweep, order=400, cost=2,
    tables={"depth_sweep": DEPTH_COLUMNS}, switch="depth_sweep",
    applies=lambda context: any(depth_range(result) is not None
                                for result in context.results if result.test is not None),
    options={"depth_sweep": Option(
        bool, "Refit each deep family's best configuration at every depth of its searched "
        "range (widths and the other parameters kept), over the report's seeds, and test "
        "each.", default=False)})


def _explanations(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    context.progress.message("measuring what each family looks at (permutation importance)")
    return {"explanations": importances_of(context.results, context.dataset,
                                           context.metric, context.seed, context.cutoff)}


EXPLANATIONS = Analysis(
    name="explanations", title="permutation importances", run=_explanations,
    order=500, cost=1, tables={"explanations": EXPLAIN_COLUMNS}, switch="importances",
    options={"importances": Option(
        bool, "Measure what each family's predictions depend on: permutation importance "
        "on the test split (columns, pixels or patches, windows of time steps, words), "
        "beside coefficients, impurity or gradient x input where the model has them "
        "(the `explanations` table).", default=True)})


def _features(context: AnalysisContext) -> dict[str, pd.DataFrame]:
    return {"features": feature_comparison(context.results, context.dataset,
                                           context.metric, context.seed, context.device,
                                           context.cutoff)}


FEATURES = Analysis(
    name="features", title="engineered features", run=_features, order=600, cost=2,
    tables={"features": FEATURE_COLUMNS}, switch="features", options={
        "features": Option(bool, "Also refit the classical families on engineered "
                           "features (PCA; gradient histograms for images, summary "
                           "statistics for sequences) to compare with the deep families' "
                           "learned ones.", default=False)})


HYPERPARAMETER_IMPORTANCES = Analysis(
    name="hyperparameter_importances", title="hyperparameter importances", order=700,
    cost=0, tables={"importances": IMPORTANCE_COLUMNS},
    run=lambda context: {"importances": importances(context.results, context.seed)})

BUILT_IN = (ENSEMBLE_ANALYSIS, SEED_COMPARISON, SUBGROUPS, LEARNING_CURVES, EXTRAPOLATION,
            SEARCH_BUDGET, DEPTH_SWEEP, EXPLANATIONS, FEATURES, SERVING, HYPERPARAMETER_IMPORTANCES)


@hookimpl
def automl_register_analyses(register):
    for analysis in BUILT_IN:
        register(analysis)
