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
