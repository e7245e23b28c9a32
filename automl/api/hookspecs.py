"""The plugin API: every hook a plugin can implement.

Plugins are modules (or objects) found through the ``automl`` entry-point group, the
built-in ones included. A plugin implements hooks by defining functions with these names,
decorated with ``automl.hookimpl``. An implementation may accept a subset of a hook's
arguments, so hooks can gain arguments later without breaking plugins.

Registration hooks hand the plugin a ``register`` callback. The engine checks every entry
(well-formed unique name, required attributes) and remembers which plugin registered it,
so every error can name the plugin. Registering a name that another plugin already
registered is an error naming both plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("automl")


# -- registration: called once per run, when the registry is built ---------------------


@hookspec
def automl_register_models(register):
    """Register model families.

    Called once when the engine builds its registry, before any task is read.

    Args:
        register: call ``register(family)`` with an ``automl.ModelFamily`` for each family
            this plugin provides.

    Returns nothing.

    Example::

        @automl.hookimpl
        def automl_register_models(register):
            register(ModelFamily(name="ridge_classifier", kind="classical", ...))
    """


@hookspec
def automl_register_datasets(register):
    """Register dataset loaders.

    Called once when the engine builds its registry. A task file selects a loader with
    ``[dataset] name = "..."``, or by the suffix of ``[dataset] path`` for loaders that
    declare ``suffixes``.

    Args:
        register: call ``register(loader)`` with an ``automl.DatasetLoader`` for each
            loader this plugin provides.

    Returns nothing.

    Example::

        @automl.hookimpl
        def automl_register_datasets(register):
            register(DatasetLoader(name="iris", load=load_iris_raw))
    """


@hookspec
def automl_register_metrics(register):
    """Register metrics.

    Called once when the engine builds its registry. A task file names metrics in
    ``[metrics] optimize`` and ``[metrics] report``.

    Args:
        register: call ``register(metric)`` with an ``automl.Metric`` for each metric this
            plugin provides.

    Returns nothing.

    Example::

        @automl.hookimpl
        def automl_register_metrics(register):
            register(Metric(name="top2_error", direction="minimize", ...))
    """


@hookspec
def automl_register_report_sections(register):
    """Register sections of the HTML report.

    Called once when the engine builds its registry. The built-in sections are registered
    the same way (by the built-in plugin ``report``). Sections are placed by their
    ``order`` (by default after the built-in sections, before "Reproducibility") and
    rendered whenever a report is written (at the end of a run and by
    ``python -m automl report``).

    Args:
        register: call ``register(section)`` with an ``automl.ReportSection`` for each
            section this plugin adds.

    Returns nothing.

    Example::

        @automl.hookimpl
        def automl_register_report_sections(register):
            register(ReportSection(
                name="fit_budget", title="Fit time budget",
                render=lambda context: context.render(
                    "<p>{{ run.task }}: {{ table(leaderboard) }}</p>")))
    """


@hookspec
def automl_register_analyses(register):
    """Register analyses: what a run measures after its search and refits.

    Called once when the engine builds its registry. The built-in analyses (ensemble,
    repeated seeds, learning curves and their extrapolation, depth sweep, what each
    family looks at, engineered features, serving costs and ONNX export, hyperparameter
    importances) are registered the same way, by the built-in plugin ``analyses``. After
    the refits a run calls each analysis that is switched on and applies, by ``order``;
    the tables it returns are written beside the leaderboard (``<table>.csv``), for report
    sections to show. Its ``[report]`` keys are checked
    before the run starts, like the engine's own.

    Args:
        register: call ``register(analysis)`` with an ``automl.Analysis`` for each
            analysis this plugin adds.

    Returns nothing.

    Example::

        @automl.hookimpl
        def automl_register_analyses(register):
            register(Analysis(
                name="fit_seconds", title="fit seconds per row",
                tables={"fit_seconds": ["family", "seconds_per_row"]},
                run=lambda context: {"fit_seconds": pd.DataFrame(
                    [{"family": r.outcome.family.name,
                      "seconds_per_row": r.test.fit_seconds / context.dataset.info.n_train}
                     for r in context.results if r.test is not None])}))
    """


# -- observers: called while a task runs; what they return is ignored -------------------


@hookspec
def automl_trial_finished(task, family, trial):
    """Observe a finished trial (complete, pruned or failed).

    Called in the process that ran the trial, right after its result is stored in the
    Optuna study, so a plugin can log, stream or alert on trials as they finish.

    Args:
        task: the task's name (``str``), e.g. ``"digits"``.
        family: the model family's name (``str``), e.g. ``"random_forest"``.
        trial: the stored trial (``optuna.trial.FrozenTrial``): ``number``, ``state``,
            ``value``, ``params``, ``duration``, and the error of a failed trial in
            ``user_attrs["error"]``.

    Returns nothing.

    Example::

        @automl.hookimpl
        def automl_trial_finished(family, trial):
            print(family, trial.number, trial.state.name, trial.value)
    """


@hookspec
def automl_run_finished(record):
    """Observe a finished run.

    Called once at the end of ``python -m automl TASK``, after every table and the report
    are written to the output folder.

    Args:
        record: the run (``automl.RunRecord``): ``folder`` (the output folder), ``run``
            (``run.json``, an ``automl.RunSummary``: ``run.task``, ``run.metric``,
            ``run.dataset``, ...), ``leaderboard`` and ``tables`` (pandas DataFrames by
            name, as in the CSV files).

    Returns nothing.

    Example::

        @automl.hookimpl
        def automl_run_finished(record):
            best = record.leaderboard.iloc[0]
            print(f"{record.run.task}: {best['family']} won")
    """
