"""What every family's search shares, and the study names it makes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from automl.api.errors import AutomlError
from automl.api.metrics import Metric
from automl.api.models import ModelFamily


@dataclass(frozen=True)
class SearchSettings:
    """What every family's search shares: the task's choices that define a study."""

    task_name: str
    seed: int
    sampler: str
    pruner: str
    cv_folds: int
    metric: Metric
    data_fingerprint: str
    device: str = "cpu"
    trial_timeout: float | None = None
    population: int | None = None  # None: POPULATION (see populations.population_size)
    # Set for a worker beside others on one storage: workers asking at the same moment
    # would otherwise seed their samplers alike and draw the same parameters.
    worker_salt: str = ""

    def study_name(self, family: str) -> str:
        """Studies are named by task and family, plus a digest of every setting that
        makes old trials incomparable (data, metric, folds, seed, sampler, pruner, and
        the validation protocol's version): changing one starts a new study instead of
        mixing scores."""
        settings = json.dumps([self.data_fingerprint, self.metric.name, self.cv_folds,
                               self.seed, self.sampler, self.pruner, PROTOCOL])
        digest = hashlib.sha256(settings.encode()).hexdigest()[:10]
        return f"{self.task_name}.{family}.{digest}"


PROTOCOL = 3
"""The validation protocol's version: 3, folds by the training rows and balanced decisions
for metrics that weigh classes alike (`automl.data.folds`, `automl.api.decisions`); 2, every family
on the task's folds (`automl.data.folds.task_folds`); 1 scored families trained in epochs on
one holdout share. Trials of another version are not reused."""


def check_sampler_supports(settings: SearchSettings, families: list[ModelFamily]) -> None:
    """The grid sampler needs a grid from every family."""
    if settings.sampler != "grid":
        return
    missing = [f.name for f in families if f.grid is None]
    if missing:
        raise AutomlError("the grid sampler needs a grid, and these families have none: "
                          + ", ".join(missing), key="search.sampler",
                          hint="exclude them in [families] exclude, or use another sampler")
