"""automl: classical machine learning or deep learning, and which model, for your data.

The public API for plugin authors: `hookimpl` marks hook implementations (see
`automl.hookspecs`), and `ModelFamily`, `DatasetLoader`, `RawData`, `Metric`,
`ReportSection` and `Option` are what plugins register.
"""

import pluggy

from automl.datasets import DatasetInfo, DatasetLoader, RawData
from automl.errors import AutomlError, DataError
from automl.metrics import Metric
from automl.models import ModelFamily
from automl.schema import Option
from automl.sections import ReportSection

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("automl")
"""Marks a plugin function as an implementation of a hook in `automl.hookspecs`."""

__all__ = ["AutomlError", "DataError", "DatasetInfo", "DatasetLoader", "Metric",
           "ModelFamily", "Option", "RawData", "ReportSection", "hookimpl", "__version__"]
