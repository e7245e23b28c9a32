"""Populations of trials: how trials are grouped, and when a group trains together.

Both rules are decided here and nowhere else: the search loop asks for trials in
populations by `population_size` and `trains_together`, and scoring
(`automl.fitting.evaluate.validate_population`) hands a population to the family's
``fit_population`` only where `trains_together` says so, in the groups
`ModelFamily.population_groups` makes.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from automl.api.models import ModelFamily
from automl.data.datasets import DatasetInfo
from automl.search.samplers import AskTellGridSampler, make_sampler
from automl.search.settings import SearchSettings
from automl.search.studies import process_identity, worker_id

# Trials per population: on a CPU they share one compiled program (a new CNN architecture
# compiles for 1-3 s on 2 cores, more than most trials on digits train: with populations
# of 4, a third of the default CNN search was compiling), on an accelerator they train
# together as one vmapped program.
POPULATION = 8


def population_size(settings: SearchSettings, family: ModelFamily) -> int:
    """Trials per population for `family`: the task's `[search] population`, else
    `POPULATION`; 1 for families without population parameters and for the grid
    sampler."""
    if not family.population_params or settings.sampler == "grid":
        return 1
    if settings.population is not None:
        return settings.population
    return POPULATION


def trains_together(family: ModelFamily, device: str) -> bool:
    """Whether a population's trials are asked at once and fitted together: for families
    with ``fit_population``, on an accelerator. On a CPU, vmapping small networks does not
    pay, and asking one trial at a time lets the sampler learn from each before the next;
    the members still share one compiled program."""
    return family.fit_population is not None and device != "cpu"


def ask_population(study: optuna.Study, family: ModelFamily, info: DatasetInfo,
                   settings: SearchSettings, n_trials: int, count: int,
                   shared: dict[str, Any] | None) -> list[tuple]:
    """Up to `count` new trials, each with its parameters (or the error sampling them
    raised). Trials after a population's first are enqueued with its `shared` parameters
    (those of the first trial asked here when None), so the sampler draws only the
    family's population parameters for them."""
    population: list[tuple] = []
    while len(population) < count:
        study.sampler = make_sampler(settings, family, info, n_trials,
                                     len(study.get_trials(deepcopy=False)))
        if isinstance(study.sampler, AskTellGridSampler) and study.sampler.is_exhausted(study):
            break
        if shared is None and population:
            shared = family.shared_params(population[0][0].params)
        # trials already waiting (starting points) go first, as they come
        if shared is not None and not study.get_trials(deepcopy=False,
                                                       states=(TrialState.WAITING,)):
            study.enqueue_trial(shared)
        trial = study.ask()
        trial.set_user_attr("worker", worker_id())
        trial.set_user_attr("process", process_identity())
        try:
            population.append((trial, family.search_space(trial, info)))
        except Exception as error:  # a broken search space fails its trial only
            population.append((trial, error))
    return population
