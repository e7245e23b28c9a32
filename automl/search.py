"""One Optuna study per model family, driven by ask-and-tell.

Owning the loop (rather than ``study.optimize``) lets the engine count trials finished by
earlier runs against the budget, record every failure with its reason without stopping,
and seed the sampler per trial from (task seed, family, trial number), so a resumed search
draws the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.datasets import DatasetInfo, Split
from automl.errors import AutomlError
from automl.evaluate import validate_population
from automl.metrics import Metric
from automl.models import ModelFamily

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
MAX_WARNINGS_KEPT = 3
HEARTBEAT_SECONDS = 30  # how often a running trial says it is alive
STALE_SECONDS = 600  # a trial on another host silent this long is taken for dead
# Trials per population: on a CPU they share one compiled program (a new CNN architecture
# compiles for 1-3 s on 2 cores, more than most trials on digits train: with populations
# of 4, a third of the default CNN search was compiling), on an accelerator they train
# together as one vmapped program.
POPULATION = 8

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


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
    population: int | None = None  # None: POPULATION (see population_size)
    # Set for a worker beside others on one storage: workers asking at the same moment
    # would otherwise seed their samplers alike and draw the same parameters.
    worker_salt: str = ""

    def study_name(self, family: str) -> str:
        """Studies are named by task and family, plus a digest of every setting that
        makes old trials incomparable (data, metric, folds, seed, sampler, pruner):
        changing one starts a new study instead of mixing scores."""
        settings = json.dumps([self.data_fingerprint, self.metric.name, self.cv_folds,
                               self.seed, self.sampler, self.pruner])
        digest = hashlib.sha256(settings.encode()).hexdigest()[:10]
        return f"{self.task_name}.{family}.{digest}"


@dataclass(frozen=True)
class SearchOutcome:
    """What a family's study holds once its search stopped."""

    family: ModelFamily
    study_name: str
    trials: list[FrozenTrial]
    reused: int
    direction: str

    def count(self, state: TrialState) -> int:
        return sum(trial.state == state for trial in self.trials)

    @property
    def best_trial(self) -> FrozenTrial | None:
        complete = [t for t in self.trials if t.state == TrialState.COMPLETE]
        if not complete:
            return None
        pick = max if self.direction == "maximize" else min
        return pick(complete, key=lambda t: (t.value, -t.number))

    def best_params(self, info: DatasetInfo) -> dict[str, Any] | None:
        """What `build` takes for the best trial: the family's search space replayed on
        the trial's stored suggestions, since a space may return parameters under other
        names (or derived values) than the ones it suggests."""
        best = self.best_trial
        if best is None:
            return None
        return self.family.search_space(optuna.trial.FixedTrial(best.params), info)

    @property
    def seconds(self) -> float:
        return seconds_spent(self.trials)

    @property
    def errors(self) -> list[str]:
        """Distinct reasons of the failed trials, most frequent first."""
        reasons = [t.user_attrs.get("error", "unknown error") for t in self.trials
                   if t.state == TrialState.FAIL]
        return sorted(set(reasons), key=lambda reason: -reasons.count(reason))


def seconds_spent(trials: list[FrozenTrial]) -> float:
    """Total duration of the finished trials (not of interrupted ones, whose duration
    runs until a later run noticed them)."""
    return sum(t.duration.total_seconds() for t in trials
               if t.state in FINISHED and t.duration is not None and not interrupted(t))


def open_study(storage, settings: SearchSettings, family: str) -> optuna.Study:
    name = settings.study_name(family)
    try:
        return optuna.create_study(storage=storage, study_name=name,
                                   direction=settings.metric.direction, load_if_exists=True)
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
        return optuna.load_study(study_name=name, storage=storage)


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.state in FINISHED]


def interrupted(trial: FrozenTrial) -> bool:
    """Whether a trial failed because the process running it stopped (see
    `fail_interrupted_trials`); such trials do not count against the budget."""
    return bool(trial.user_attrs.get("interrupted"))


def budget_used(study: optuna.Study) -> int:
    """Trials that count against `n_trials`: finished ones, less interrupted ones, plus
    those other workers are running now."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if (t.state in FINISHED and not interrupted(t)) or t.state == TrialState.RUNNING)


def worker_id() -> str:
    """This process, as recorded on the trials it runs: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_interrupted_trials(study: optuna.Study, stale_seconds: float = STALE_SECONDS
                            ) -> list[FrozenTrial]:
    """Mark failed the RUNNING trials whose process is gone (killed, or its machine
    died), and enqueue their parameters to be tried again.

    A trial run on this host is gone when its process no longer exists; one run on
    another host, when it has not sent a heartbeat for `stale_seconds`.
    """
    gone = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if _process_gone(t, stale_seconds)]
    storage = study._storage  # Optuna has no public API to end another process's trial
    for trial in gone:
        worker = trial.user_attrs.get("worker", "an earlier run")
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        storage.set_trial_user_attr(
            trial._trial_id, "error", f"interrupted: the process that ran it ({worker}) "
            "stopped before it finished; its parameters were tried again")
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), skip_if_exists=False)
    return gone


def _process_gone(trial: FrozenTrial, stale_seconds: float) -> bool:
    host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, as another user's process
            return False
        return False
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return time.time() - float(trial.user_attrs.get("heartbeat", start)) > stale_seconds


def make_sampler(settings: SearchSettings, family: ModelFamily, info: DatasetInfo,
                 n_trials: int, trial_number: int) -> optuna.samplers.BaseSampler:
    family_seed = settings.seed * 1_000_003 + zlib.crc32(family.name.encode())
    if settings.sampler == "grid":  # its seed shuffles the grid: keep one order per family
        return AskTellGridSampler(dict(family.grid(info)), seed=family_seed % 2**32)
    seed = (family_seed + trial_number + zlib.crc32(settings.worker_salt.encode())) % 2**32
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if settings.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                      n_startup_trials=max(3, min(10, n_trials // 3)))


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, minus its ``study.stop()`` after the last grid point: that
    works only inside ``study.optimize``; `search_family` checks `is_exhausted` itself."""

    def after_trial(self, study, trial, state, values) -> None:
        pass

    def is_exhausted(self, study: optuna.Study) -> bool:
        """Whether every grid point is tried or being tried. Optuna's counts only finished
        trials, so a worker whose last points were running in other workers ran them
        again (39 trials for a 36-point grid with two workers)."""
        taken = {trial.system_attrs.get("grid_id")
                 for trial in study.get_trials(deepcopy=False)
                 if trial.state.is_finished() or trial.state == TrialState.RUNNING}
        return taken.issuperset(range(len(self._all_grids)))


def make_pruner(name: str, family: ModelFamily) -> optuna.pruners.BasePruner:
    """The task's pruner; a step is a CV fold, or an epoch for holdout families, which
    get a few epochs of warm-up since early epochs say little about the final score."""
    warmup = 5 if family.evaluation == "holdout" else 0
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, warmup))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup),
                                              max_resource="auto")
    return optuna.pruners.NopPruner()


def check_sampler_supports(settings: SearchSettings, families: list[ModelFamily]) -> None:
    """The grid sampler needs a grid from every family."""
    if settings.sampler != "grid":
        return
    missing = [f.name for f in families if f.grid is None]
    if missing:
        raise AutomlError("the grid sampler needs a grid, and these families have none: "
                          + ", ".join(missing), key="search.sampler",
                          hint="exclude them in [families] exclude, or use another sampler")


def population_size(settings: SearchSettings, family: ModelFamily) -> int:
    """Trials per population for `family`: the task's `[search] population`, else
    `POPULATION`; 1 for families without population parameters and for the grid
    sampler."""
    if not family.population_params or settings.sampler == "grid":
        return 1
    if settings.population is not None:
        return settings.population
    return POPULATION


def search_family(study: optuna.Study, family: ModelFamily, info: DatasetInfo, train: Split,
                  settings: SearchSettings, *, n_trials: int, seconds: float | None,
                  on_trial: Callable[[FrozenTrial], None] = lambda trial: None) -> None:
    """Run trials until the study holds `n_trials` finished ones or `seconds` have passed.

    Trials are scored by cross-validation on `train` only; the test split is never seen.
    A trial that raises is recorded as failed with its error and the search goes on.
    Trials come in populations (`population_size`) for families with population
    parameters.
    """
    study.pruner = make_pruner(settings.pruner, family)
    if (family.starting_points and settings.sampler != "grid"
            and not study.get_trials(deepcopy=False)):
        for params in family.starting_points(info):
            # skip_if_exists: a worker starting at the same moment may have enqueued them
            study.enqueue_trial(dict(params), skip_if_exists=True)
    size = population_size(settings, family)
    # Together, a population is asked at once; one by one, each trial is asked after the
    # one before is told, so the sampler learns from every trial and budgets hold.
    together = family.fit_population is not None and settings.device != "cpu"
    started = time.monotonic()
    shared: dict[str, Any] | None = None  # the current population's shared parameters
    members = 0  # trials of the current population asked so far
    while True:
        done = budget_used(study)
        if done >= n_trials or (seconds is not None and time.monotonic() - started >= seconds):
            return
        count = min(size - members, n_trials - done) if together else 1
        population = _ask_population(study, family, info, settings, n_trials, count,
                                     shared if members else None)
        if not population:
            return
        if not members:
            shared = family.shared_params(population[0][0].params)
        members = (members + len(population)) % size
        for trial in _run_population(study, population, family, info, train, settings):
            on_trial(trial)


def _ask_population(study, family, info, settings, n_trials, count,
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
        try:
            population.append((trial, family.search_space(trial, info)))
        except Exception as error:  # a broken search space fails its trial only
            population.append((trial, error))
    return population


def describe_failure(error: Exception) -> str:
    """A failed trial's reason; running out of memory (host or accelerator) says so."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, MemoryError) or "RESOURCE_EXHAUSTED" in str(error):
        return ("out of memory (a smaller batch_size or model may fit; other trials go "
                f"on): {text}")
    return text


def _run_population(study: optuna.Study, population: list[tuple], family: ModelFamily,
                    info: DatasetInfo, train: Split, settings: SearchSettings
                    ) -> list[FrozenTrial]:
    """Score a population's trials (together where the family can) and tell the study."""
    unit = "epochs" if family.evaluation == "holdout" else "CV folds"
    sampled = [(trial, params) for trial, params in population
               if not isinstance(params, Exception)]
    outcomes = {trial.number: params for trial, params in population
                if isinstance(params, Exception)}

    def reporter(trial: optuna.Trial) -> Callable[[int, float], None]:
        """Called as the trial starts: reports its steps, checks its time limit."""
        started = heartbeat = time.monotonic()

        def report(step: int, score: float) -> None:
            nonlocal heartbeat
            if time.monotonic() - heartbeat > HEARTBEAT_SECONDS:
                heartbeat = time.monotonic()
                trial.set_user_attr("heartbeat", time.time())
            limit = settings.trial_timeout
            if limit is not None and time.monotonic() - started > limit:
                raise TimeoutError(f"the trial ran past search.trial_timeout ({limit:g} s) "
                                   f"after {step + 1} {unit}")
            if isinstance(study.pruner, optuna.pruners.NopPruner):
                return  # nothing reads intermediate scores: spare the storage writes
            trial.report(score, step=step)
            last_fold = family.evaluation == "cv" and step + 1 == settings.cv_folds
            if not last_fold and trial.should_prune():
                raise optuna.TrialPruned()
        return report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            results = validate_population(
                family, [params for _, params in sampled], info, train, settings.metric,
                folds=settings.cv_folds, seed=settings.seed, device=settings.device,
                start_member=lambda index: reporter(sampled[index][0]))
        except KeyboardInterrupt:
            for trial, _ in population:
                trial.set_user_attr("error", "interrupted by the user")
                study.tell(trial, state=TrialState.FAIL)
            raise
        outcomes.update((trial.number, result)
                        for (trial, _), result in zip(sampled, results, strict=True))
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    told = []
    for trial, _ in population:
        if messages:
            trial.set_user_attr("warnings", [m[:300] for m in messages[:MAX_WARNINGS_KEPT]])
        told.append(_tell(study, trial, outcomes[trial.number]))
    return told


def _tell(study: optuna.Study, trial: optuna.Trial, result) -> FrozenTrial:
    """Record a trial's validation scores, or the exception that ended it."""
    if isinstance(result, optuna.TrialPruned):
        return study.tell(trial, state=TrialState.PRUNED)
    if isinstance(result, Exception):
        trial.set_user_attr("error", describe_failure(result)[:2000])
        return study.tell(trial, state=TrialState.FAIL)
    trial.set_user_attr("cv_scores", result)
    if len(result) > 1:  # a holdout score has no spread
        trial.set_user_attr("cv_std", float(np.std(result)))
    return study.tell(trial, float(np.mean(result)))
