"""automl: classical machine learning or deep learning, and which model, for your data.

The public API for plugin authors, all importable from ``automl``: `hookimpl` marks hook
implementations (see `automl.api.hookspecs`); `ModelFamily` (with its `Cost`),
`DatasetLoader`, `Metric`, `ReportSection` and `Analysis` are what plugins register
(an analysis is given an `AnalysisContext`); `RawData` is
what a loader returns, `Option` and `REQUIRED` declare a loader's task-file keys,
`DatasetInfo` is what a model may know of the data, `SectionContext` what a report
section is given, `RunRecord`, `RunSummary` and `DataSummary` a stored run;
`AutomlError` and `DataError` are the errors that reach the user as one message;
`cache_folder` is where a plugin keeps what the run's processes would otherwise compute
again.
docs/hooks.md documents every name, generated from the code.
"""

# ruff: noqa: E402 (the imports follow the clock's start on purpose)

import time

_imported_at = time.monotonic()
"""When this process first imported the engine: ``python -m automl``'s time limit counts
from here, so loading the engine and its plugins is inside the limit."""

import pluggy

from automl.analyses.api import Analysis, AnalysisContext
from automl.api.caches import cache_folder
from automl.api.errors import AutomlError, DataError
from automl.api.metrics import Metric
from automl.api.models import Cost, ModelFamily, qualified_name
from automl.api.results import DataSummary, RunRecord, RunSummary
from automl.api.schema import REQUIRED, Option
from automl.data.datasets import DatasetInfo, DatasetLoader, RawData
from automl.report.context import SectionContext
from automl.report.section import ReportSection

__version__ = "0.1.0"
"""This version of automl (also `python -m automl --version`)."""

hookimpl = pluggy.HookimplMarker("automl")
"""Marks a plugin function as an implementation of a hook in `automl.api.hookspecs`:
``@automl.hookimpl``, or ``@automl.hookimpl(tryfirst=True)`` / ``trylast=True`` to be
called before / after the other plugins, or ``wrapper=True`` for a generator that yields
once, around them."""

__all__ = ["REQUIRED", "Analysis", "AnalysisContext", "AutomlError", "Cost", "DataError",
           "DataSummary", "DatasetInfo", "DatasetLoader", "Metric", "ModelFamily", "Option",
           "RawData", "ReportSection", "RunRecord", "RunSummary", "SectionContext",
           "__version__", "cache_folder", "hookimpl", "qualified_name"]
