"""The task's sampler and pruner, made for one family.

A sampler is made anew for every trial, seeded from (task seed, family, trial number), so a
resumed search draws the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import zlib

import optuna
from optuna.trial import TrialState

from automl.api.models import ModelFamily
from automl.data.datasets import DatasetInfo
from automl.search.internals import grid_size
from automl.search.settings import SearchSettings


def make_sampler(settings: SearchSettings, family: ModelFamily, info: DatasetInfo,
                 n_trials: int, trial_number: int) -> optuna.samplers.BaseSampler:
    family_seed = settings.seed * 1_000_003 + zlib.crc32(family.name.encode())
    if settings.sampler == "grid":  # its seed shuffles the grid: keep one order per family
        return AskTellGridSampler(dict(family.grid(info)), seed=family_seed % 2**32)
    seed = (family_seed + trial_number + zlib.crc32(settings.worker_salt.encode())) % 2**32
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if settings.sampler == "cmaes":
        return ReplayedCmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                      n_startup_trials=max(3, min(10, n_trials // 3)))


class ReplayedCmaEsSampler(optuna.samplers.CmaEsSampler):
    """Optuna's CMA-ES sampler, with its state rebuilt from the trials instead of read
    from the storage: Optuna's own keeps the optimizer as a pickle in trial attributes
    and unpickles it for every trial, so whoever can write to a shared database (or hands
    over a journal to resume) would run code in every worker. Here each generation's
    update is replayed from its completed trials (their parameters, values and recorded
    generation: data), in the order Optuna tells them, which gives the same optimizer;
    no pickle is read, and none is written, since a replayed optimizer's current
    generation is never complete."""

    def _restore_optimizer(self, completed_trials):
        self._completed = completed_trials  # replayed by _init_optimizer
        return None

    def _init_optimizer(self, trans, direction, *args, **kwargs):
        before = self._cma_rng.rng.get_state()
        optimizer = super()._init_optimizer(trans, direction, *args, **kwargs)
        sign = 1.0 if direction == optuna.study.StudyDirection.MINIMIZE else -1.0
        while True:
            generation = self._get_solution_trials(self._completed, optimizer.generation)
            if len(generation) < optimizer.population_size:
                break
            optimizer.tell([(trans.transform(trial.params), sign * trial.value)
                            for trial in generation[:optimizer.population_size]])
        key = self._attr_key_generation
        if any(trial.system_attrs.get(key, 0) > 0 for trial in self._completed):
            # Optuna's would have restored its pickle (stored by the trial whose sampling
            # completed a generation), not initialised one: the draw is not spent
            self._cma_rng.rng.set_state(before)
        return optimizer


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, minus its ``study.stop()`` after the last grid point: that
    works only inside ``study.optimize``; the search loop checks `is_exhausted` itself."""

    def after_trial(self, study, trial, state, values) -> None:
        pass

    def is_exhausted(self, study: optuna.Study) -> bool:
        """Whether every grid point is tried or being tried. Optuna's counts only finished
        trials, so a worker whose last points were running in other workers ran them
        again (39 trials for a 36-point grid with two workers)."""
        taken = {trial.system_attrs.get("grid_id")
                 for trial in study.get_trials(deepcopy=False)
                 if trial.state.is_finished() or trial.state == TrialState.RUNNING}
        return taken.issuperset(range(grid_size(self)))


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """The task's pruner; a step is a fold of the task's folds, for every family."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
    return optuna.pruners.NopPruner()
