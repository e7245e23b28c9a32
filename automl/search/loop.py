"""The ask-run-tell loop that runs one family's trials.

Owning the loop (rather than ``study.optimize``) lets the engine count trials finished by
earlier runs and other workers against the budget, record every failure with its reason
without stopping, and seed the sampler per trial (see `automl.search.samplers`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.api.models import ModelFamily
from automl.data.datasets import DatasetInfo, Split
from automl.fitting.evaluate import validate_population
from automl.fitting.row_plans import FIT_SECONDS, FOLDS_DONE, SCORE_SECONDS
from automl.fitting.stoppable import FoldWorker, TrialStopped, shared_worker
from automl.search.populations import ask_population, population_size, trains_together
from automl.search.samplers import make_pruner
from automl.search.settings import SearchSettings
from automl.search.storage import redact
from automl.search.studies import budget_used, queues_starting_points

MAX_WARNINGS_KEPT = 3
FIRST_TRIAL_SHARES = 2.0
"""How many of its family's trial seconds a family's first trial may take, within the
family's share of a time limit (its trials take `automl.engine.run.TRIALS_SHARE` of it)."""
HEARTBEAT_SECONDS = 30  # how often a running trial says it is alive


def search_family(study: optuna.Study, family: ModelFamily, info: DatasetInfo, train: Split,
                  settings: SearchSettings, *, n_trials: int, seconds: float | None,
                  stage_end: float | None = None,
                  on_trial: Callable[[FrozenTrial], None] = lambda trial: None,
                  best_outputs: dict[int, np.ndarray] | None = None,
                  family_end: float | None = None) -> str:
    """Run trials until the study holds `n_trials` finished ones or `seconds` have passed;
    returns which stopped it: ``"n_trials"``, ``"time"`` or ``"grid"`` (every grid point
    tried).

    `stage_end` (``time.monotonic()`` time; the time limit's search stage) and
    `family_end` (the end of the family's share of it) bind every trial, the family's
    first among them: one family's slow first trial never takes the time of those after
    it. Trials are scored by cross-validation on `train`
    only; the test split is never seen.
    A trial that raises is recorded as failed with its error and the search goes on.
    Trials come in populations (`population_size`) for families with population
    parameters. `best_outputs`, where given, is kept holding the out-of-fold outputs of
    the best trial run here (trial number -> outputs; see `automl.fitting.evaluate.Validated`).
    """
    study.pruner = make_pruner(settings.pruner)
    if (family.starting_points and settings.sampler != "grid"
            and queues_starting_points(study, settings)):
        for params in family.starting_points(info):
            study.enqueue_trial(dict(params), skip_if_exists=True)
    size = population_size(settings, family)
    # Together, a population is asked at once; one by one, each trial is asked after the
    # one before is told, so the sampler learns from every trial and budgets hold.
    together = trains_together(family, settings.device)
    limited = any(end is not None for end in (settings.trial_timeout, seconds, stage_end))
    fold_worker = stoppable_folds(family, info, train, settings) if limited else None
    started = time.monotonic()
    deadline = None if seconds is None else started + seconds  # no trial runs past it
    first_deadline = (None if seconds is None or stage_end is None
                      else started + FIRST_TRIAL_SHARES * seconds)
    first_reason = (f"{FIRST_TRIAL_SHARES:g}x the family's time budget, for its first "
                    "trials")
    if family_end is not None and (first_deadline is None or family_end < first_deadline):
        first_deadline, first_reason = family_end, "the end of the family's share of the time limit"
    shared: dict[str, Any] | None = None  # the current population's shared parameters
    members = 0  # trials of the current population asked so far
    scored = False  # whether the study holds a completed trial (then it stays so)
    while True:
        done = budget_used(study)
        if done >= n_trials:
            return "n_trials"
        if seconds is not None and time.monotonic() - started >= seconds:
            return "time"
        if stage_end is not None and time.monotonic() >= stage_end:
            return "time"
        count = min(size - members, n_trials - done) if together else 1
        population = ask_population(study, family, info, settings, n_trials, count,
                                    shared if members else None)
        if not population:
            return "grid"
        if not members:
            shared = family.shared_params(population[0][0].params)
        members = (members + len(population)) % size
        # The budget's end binds once the family has a score: its first trials may run
        # to trial_timeout, so that a family whose trial outlasts its share still gets one;
        # under a time limit, to FIRST_TRIAL_SHARES of its share, within the family's end.
        scored = scored or any(t.state == TrialState.COMPLETE
                               for t in study.get_trials(deepcopy=False))
        ends = ((deadline, "the end of the family's time budget") if scored else
                (first_deadline, first_reason))
        for trial in _run_population(study, population, family, info, train, settings,
                                     fold_worker, ends, stage_end, best_outputs,
                                     first=not scored):
            on_trial(trial)


def stoppable_folds(family: ModelFamily, info: DatasetInfo, train: Split,
                    settings: SearchSettings) -> FoldWorker | None:
    """The run's `FoldWorker`, prepared for a cross-validated family whose trials have a
    time limit, so that no fit can run past it; None for families trained in epochs
    (``evaluation="holdout"``: they check the limit after every epoch, and keep their
    compiled programs in this process) and for a family the worker cannot take (it is then checked
    between folds, as before)."""
    if family.evaluation != "cv":
        return None
    worker = shared_worker()
    try:
        worker.prepare(family, info, train, settings.metric, folds=settings.cv_folds,
                       seed=settings.seed, device=settings.device)
    except RuntimeError as error:  # the limit is then checked between folds, as before
        warnings.warn(f"{family.name}: trial_timeout is checked between CV folds only "
                      f"({error})", RuntimeWarning, stacklevel=2)
        return None
    return worker


def describe_failure(error: Exception) -> str:
    """A failed trial's reason; running out of memory (host or accelerator) says so."""
    text = redact(f"{type(error).__name__}: {error}")  # a database error may hold its URL
    if isinstance(error, MemoryError) or "RESOURCE_EXHAUSTED" in str(error):
        return ("out of memory (a smaller batch_size or model may fit; other trials go "
                f"on): {text}")
    return text


def _run_population(study: optuna.Study, population: list[tuple], family: ModelFamily,
                    info: DatasetInfo, train: Split, settings: SearchSettings,
                    fold_worker: FoldWorker | None,
                    deadline: tuple[float | None, str] = (None, ""),
                    stage_end: float | None = None,
                    best_outputs: dict[int, np.ndarray] | None = None,
                    first: bool = False) -> list[FrozenTrial]:
    """Score a population's trials (together where the family can), tell the study, and
    keep the best trial's out-of-fold outputs in `best_outputs`. `first`: the family has
    no score yet (`TrialSteps`)."""
    sampled = [(trial, params) for trial, params in population
               if not isinstance(params, Exception)]
    outcomes = {trial.number: params for trial, params in population
                if isinstance(params, Exception)}
    steps: dict[int, TrialSteps] = {}  # by trial number, as each member starts

    def start_member(index: int) -> TrialSteps:
        trial = sampled[index][0]
        steps[trial.number] = TrialSteps(study, trial, family, settings, deadline,
                                         stage_end, first=first)
        return steps[trial.number]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            results = validate_population(
                family, [params for _, params in sampled], info, train, settings.metric,
                folds=settings.cv_folds, seed=settings.seed, device=settings.device,
                together=trains_together(family, settings.device),
                start_member=start_member,
                fold_worker=fold_worker)
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
        if isinstance(outcomes[trial.number], TimeoutError | TrialStopped):
            # how far it got: the plan sizes a first trial that fits from it
            trial.set_user_attr(FOLDS_DONE, steps[trial.number].folds_done
                                if trial.number in steps else 0)
        told.append(_tell(study, trial, outcomes[trial.number]))
        if best_outputs is not None:
            keep_best_outputs(best_outputs, told[-1], outcomes[trial.number], study)
    return told


def keep_best_outputs(kept: dict[int, np.ndarray], trial: FrozenTrial, result,
                      study: optuna.Study) -> None:
    """Hold `trial`'s out-of-fold outputs in `kept` when it is the study's best trial
    (as `automl.api.results.SearchOutcome.best_trial` picks it: the first of equal values),
    dropping those of the trial it displaces: one family's outputs held at a time."""
    if trial.state != TrialState.COMPLETE or getattr(result, "outputs", None) is None:
        return
    best = study.best_trial  # ties: Optuna keeps the first, as SearchOutcome does
    if best.number == trial.number:
        kept.clear()
        kept[trial.number] = result.outputs


class TrialSteps:
    """A running trial's side of the search, made as the trial starts: called after each
    fold with the running score, it reports to the pruner, sends a
    heartbeat now and then, and ends the trial past its time limit; `seconds_left` is
    what a fold in a `FoldWorker` may still take.

    The limit is the soonest of `trial_timeout`, the family's `deadline` (a time, and its
    reason for the message: once a family has a score, the end of its budget, so that its
    trials may not take the time of the families after it) and the end of the time
    limit's search stage (`stage_end`).

    A `first` trial (the family has no score yet) of a family trained in epochs, bound by
    its budget rather than by `trial_timeout`, is not failed at its limit: each fold's fit
    ends at that fold's share of it, keeping its best epoch so far, so that the family
    gets a model trained for fewer epochs rather than none."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, family: ModelFamily,
                 settings: SearchSettings, deadline: tuple[float | None, str] = (None, ""),
                 stage_end: float | None = None, *, first: bool = False):
        self.study, self.trial, self.settings = study, trial, settings
        self.last_step, self.folds_done = settings.cv_folds, 0
        self.started = self.heartbeat = time.monotonic()
        self.limit, self.stop_reason = settings.trial_timeout, "trial_timeout"
        for end, reason in (deadline, (stage_end, "the end of the time limit's search stage")):
            if end is not None and (self.limit is None or end - self.started < self.limit):
                self.limit, self.stop_reason = max(0.0, end - self.started), reason
        self.graceful = first and self.limit is not None and self.stop_reason != "trial_timeout"
        if self.limit is not None:
            self.stop_reason += f" ({self.limit:.3g} s)"

    def seconds_left(self) -> float | None:
        if self.limit is None:
            return None
        return max(0.0, self.limit - (time.monotonic() - self.started))

    def __call__(self, step: int, score: float) -> None:
        if time.monotonic() - self.heartbeat > HEARTBEAT_SECONDS:
            self.heartbeat = time.monotonic()
            self.trial.set_user_attr("heartbeat", time.time())
        self.folds_done = step + 1
        late = self.limit is not None and time.monotonic() - self.started > self.limit
        if late and not (self.graceful and self.folds_done == self.last_step):
            raise TimeoutError(f"stopped at {self.stop_reason} after {step + 1} CV folds")
        if isinstance(self.study.pruner, optuna.pruners.NopPruner):
            return  # nothing reads intermediate scores: spare the storage writes
        self.trial.report(score, step=step)
        if step + 1 != self.last_step and self.trial.should_prune():
            raise optuna.TrialPruned()

    def epoch_check(self, epoch: int, _estimator) -> bool:
        """The epoch callback of a family trained in epochs: ends the fit (and the trial)
        once the trial's time is up, between epochs, where such a fit can stop; a
        graceful one (see the class) ends the fold's fit at the fold's share of the time
        instead (True: the fit keeps its best epoch), and says so on the trial."""
        if self.limit is None:
            return False
        elapsed = time.monotonic() - self.started
        if self.graceful:
            if elapsed <= self.limit * (self.folds_done + 1) / self.last_step:
                return False
            self.trial.set_user_attr("cut_short", f"fits ended at their folds' shares of "
                                                  f"{self.stop_reason}")
            return True
        if elapsed > self.limit:
            raise TimeoutError(f"stopped at {self.stop_reason} after epoch {epoch + 1}")
        return False


def _tell(study: optuna.Study, trial: optuna.Trial, result) -> FrozenTrial:
    """Record a trial's validation scores (`automl.fitting.evaluate.Validated`), or the exception
    that ended it."""
    if isinstance(result, optuna.TrialPruned):
        return study.tell(trial, state=TrialState.PRUNED)
    if isinstance(result, Exception):
        trial.set_user_attr("error", describe_failure(result)[:2000])
        return study.tell(trial, state=TrialState.FAIL)
    trial.set_user_attr("cv_scores", result.scores)
    trial.set_user_attr("cv_std", float(np.std(result.scores)))
    if result.fit_seconds:
        trial.set_user_attr(FIT_SECONDS, float(sum(result.fit_seconds)))
        trial.set_user_attr(SCORE_SECONDS, float(sum(result.score_seconds)))
    return study.tell(trial, float(np.mean(result.scores)))
