"""How many training rows a family's search and its refit use.

All of them, unless one of two things calls for fewer:

- the family's declared caps (`automl.api.models.Cost`: ``max_search_rows``,
  ``max_fit_rows``), which hold at any size and whatever the budgets, so that a search
  without time limits repeats exactly;
- a time limit on its trials (``trial_timeout``, or the family's share of ``timeout``,
  ``total_timeout`` or ``time_limit``), on a table of at least `LARGE_ROWS` training rows.
  A typical configuration is fitted on `PROBE_ROWS` // 4 and on `PROBE_ROWS` rows (in the
  fold worker, where it can be stopped, for cross-validated families; in the search
  process for holdout ones), and its prediction timed: the two fits split the
  fit's time into a constant part (start-up, a fixed number of boosting rounds on few
  rows) and a part that grows as n to the declared exponent (`FitTime`), which carries it
  to any size. The search gets the most rows whose predicted trial (every CV fold's fit
  and prediction) takes at most `SAFETY` of the limit. A family whose probe alone
  outlasts the limit is skipped. The refit then gets the most rows whose fit, predicted
  from the best trial's own fits and scoring (each timed alone), takes at most
  `REFIT_SAFETY` of the refit's limit, on a table of any size.

Subsamples are stratified for classification and drawn with the task's seed. A limit that
binds makes the row counts depend on the machine's speed, as a timeout makes trial counts
do; the report says which families were subsampled and why, with the numbers.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import optuna

from automl.api.models import ModelFamily
from automl.data.datasets import Dataset, DatasetInfo, Split, take
from automl.data.folds import fitting
from automl.fitting.row_plans import FIT_SECONDS, FOLDS_DONE, SCORE_SECONDS, FitTime, RowPlan
from automl.fitting.stoppable import TrialStopped

LARGE_ROWS = 5_000
"""Tables with fewer training rows are never probed or subsampled for time: their trials
are fast. From this size on a family's cost is measured before its share is spent (a
random forest's five folds on 8,000 rows outlast a two-minute run's share)."""
PROBE_ROWS = 2_000
"""Rows of the timed probe fit (another `PROBE_PREDICT_ROWS` are predicted)."""
PROBE_PREDICT_ROWS = 1_000
SAFETY = 0.5
"""A trial is sized to this share of its limit: parameters change a fit's cost several
fold (a forest of 400 trees against one of 50), and the probe times one configuration."""
REFIT_SAFETY = 0.75
"""A refit is sized to this share of its limit: it is predicted from its own
configuration's timed fits (`refit_seconds`), closer than the probe's typical one; the
rest is the margin for a fit that grows a little faster on more rows (boosting rounds
before early stopping, epochs)."""
ENDING_SHARE = 0.15
"""A refit that ends itself at its limit keeping its best epoch or round so far
(`ModelFamily.fit_stops_itself`) is sized as if it needed this share of its predicted
seconds: it is given more rows and fewer epochs or rounds than its trials had (at least
about this share of them), rather than fewer rows, since a large table's rows teach a
network or a booster more than its last epochs or rounds on a subsample do. Measured on
1,000,000 rows at 600 s: XGBoost ended after 739 of its 2,000 rounds on all 800,000
training rows scored 0.9545 against 0.9475 on its trials' 96,000; CatBoost ended after
1,644 rounds on 280,000 rows scored 0.9521 against 0.9441 on 38,000. At 0.25 the MLP
refitted on 300,000 of the 800,000 (0.9646); at 0.15 see
benchmarks/results/2026-12-03-vm-scaling-rows-1m-mlp.md."""
MIN_ROWS = 500
STOP_FACTOR = 3.0
MIN_STOP_SECONDS = 10.0
"""A refit is never stopped sooner: sending it to the worker and its model back takes
time of its own, and a budget already spent must still leave the refit room."""


MIN_PROBE_SECONDS = 0.1
"""A trial's limit below which a family is not probed: no fit on 2,000 rows takes less."""


def plan_search_rows(family: ModelFamily, dataset: Dataset, folds: int, seed: int,
                     device: str, limit: float | None, worker) -> RowPlan:
    """How many rows `family`'s search uses (module docstring). `limit` is a trial's time
    limit (None: none); `worker` is the run's `FoldWorker`, where the probe runs."""
    n_train, cost = dataset.info.n_train, family.cost
    cap = min(n_train, cost.max_search_rows or n_train)
    why = (f"its declared cap of {cap:,} rows for a fit that grows as n^{cost.fit_rows:g}"
           if cap < n_train else "")
    if limit is None or n_train < LARGE_ROWS:
        return RowPlan(n_train, cap, why)
    if limit < MIN_PROBE_SECONDS:  # a probe stopped at once costs a worker's restart
        return RowPlan(n_train, 0, f"a trial's limit of {limit:.2g} s left no time to "
                                   "probe its fits")
    rows = stratified_rows(dataset.train.y, dataset.info, PROBE_ROWS + PROBE_PREDICT_ROWS,
                           seed)
    fit_rows, predict_rows = rows[:PROBE_ROWS], rows[PROBE_ROWS:]
    train = dataset.train
    probe = (family, dataset.info, typical_params(family, dataset.info, seed),
             take(train.X, fit_rows), train.y[fit_rows], take(train.X, predict_rows), seed,
             device)
    started = time.monotonic()
    try:
        # Holdout (deep) families are probed here, where their trials run: their compiled
        # programs are then reused, and an accelerator is not shared with a second process.
        small_seconds, large_seconds, predict_seconds = (
            worker.call(timed_fits, probe, limit, f"the timed probe fits of {family.name}")
            if family.evaluation == "cv" else timed_fits(*probe))
    except TrialStopped:
        return RowPlan(n_train, 0, f"one fit on {PROBE_ROWS:,} rows ran past a trial's "
                                   f"limit of {limit:.3g} s")
    except Exception as error:  # a probe that fails: the trials will say why, on all rows
        return RowPlan(n_train, cap, why or f"probe failed: {type(error).__name__}")
    if time.monotonic() - started > limit:  # a holdout family's probe, not stoppable
        return RowPlan(n_train, 0, f"its probe fits on {PROBE_ROWS // 4:,} and "
                                   f"{PROBE_ROWS:,} rows took longer than a trial's limit "
                                   f"of {limit:.3g} s")
    fit = FitTime.measured(cost.fit_rows, PROBE_ROWS // 4, small_seconds, PROBE_ROWS,
                           large_seconds)
    fits_per_trial, fitted_share = fitting(folds)

    def trial(n: int) -> float:  # every fit of a trial, and its prediction of the rest
        fitted = n * fitted_share
        return fits_per_trial * (fit(fitted) + (n - fitted) * predict_seconds
                                 * (fitted / PROBE_ROWS) ** cost.predict_rows)

    fits = largest_rows(trial, SAFETY * limit, cap)
    if fits >= cap:
        return RowPlan(n_train, cap, why, fit=fit, predict_seconds=predict_seconds)
    if fits < MIN_ROWS and trial(MIN_ROWS) > limit:  # within it, past SAFETY: 500 rows
        return RowPlan(n_train, 0, f"a trial on {MIN_ROWS:,} rows would take about "
                                   f"{trial(MIN_ROWS):.3g} s of a limit of {limit:.3g} s")
    fits = max(fits, MIN_ROWS)
    return RowPlan(n_train, fits,
                   f"one fit on {PROBE_ROWS:,} rows took {large_seconds:.3g} s; a trial's "
                   f"limit is {limit:.3g} s and the fit grows as n^{cost.fit_rows:g}",
                   fit=fit, predict_seconds=predict_seconds)




def plan_after_stop(family: ModelFamily, plan: RowPlan, stopped: optuna.trial.FrozenTrial,
                    folds: int, limit: float | None) -> RowPlan:
    """`plan` for a family whose first trial was stopped by time (`stopped`): the most
    rows whose trial, at the pace `stopped` measured (its seconds for the folds it scored
    on `plan`'s rows, a fold it never finished counted as twice its seconds, grown as n
    to the declared exponent), takes at most `SAFETY` of `limit`, and never fewer than
    `MIN_ROWS` (or all of a smaller table's): its retry costs at most a trial's limit,
    and a first trial's seconds include what a first call pays once (imports, a cold
    worker). Unchanged without a limit."""
    if limit is None or stopped.duration is None:
        return plan
    done, seconds = stopped.user_attrs.get(FOLDS_DONE, 0), stopped.duration.total_seconds()
    trial_seconds = seconds * folds / (done if done else 0.5)
    exponent = family.cost.fit_rows
    rows = plan.search_rows

    def trial(n: int) -> float:
        return trial_seconds * (n / rows) ** exponent

    fits = max(largest_rows(trial, SAFETY * limit, rows), min(MIN_ROWS, rows))
    measured = (f"its first trial on {rows:,} rows was stopped after {done} of {folds} "
                f"folds in {seconds:.3g} s")
    return replace(plan, search_rows=fits, why=f"{measured}; retried on {fits:,} rows "
                                               f"with a trial's {limit:.3g} s")


def refit_seconds(family: ModelFamily, plan: RowPlan, best: optuna.trial.FrozenTrial,
                  folds: int, predicted: int):
    """The predicted seconds of a refit of `best` on n rows, as a function of n: the fit,
    its constant part from the probe and its growing part through what one of `best`'s
    fits measured, then `predicted` test rows (`automl.fitting.evaluate.rows_predicted_by_refit`)
    at the pace `best` scored its folds' rows, or where its fits were not timed alone,
    at the probe's (grown with n where a prediction compares with every training row,
    as kNN's). None where `best` has no duration."""
    if best.duration is None:
        return None
    fits_per_trial, fitted_share = fitting(folds)
    fitted = trial_rows(plan, folds)
    fit_seconds = best.user_attrs.get(FIT_SECONDS)
    if fit_seconds is None:  # scoring and sending count as fitting: an upper bound
        per_fit = best.duration.total_seconds() / fits_per_trial
        per_row, paced_on = plan.predict_seconds, PROBE_ROWS
    else:  # a trial scores the rows its fits left out: each row once over k folds
        scored = max(1, round(plan.search_rows * (1 - fitted_share)) * fits_per_trial)
        per_fit, paced_on = fit_seconds / fits_per_trial, fitted
        per_row = best.user_attrs.get(SCORE_SECONDS, 0.0) / scored
    fit = (plan.fit or FitTime(0.0, 0.0, family.cost.fit_rows)).through(fitted, per_fit)
    exponent = family.cost.predict_rows

    def refit(n: int) -> float:
        return fit(n) + predicted * per_row * (n / paced_on) ** exponent

    return refit


def trial_rows(plan: RowPlan, folds: int) -> int:
    """As many rows as one fit of a trial on `plan`'s search rows had."""
    return max(1, round(plan.search_rows * fitting(folds)[1]))


def refit_needs(family: ModelFamily, plan: RowPlan, best: optuna.trial.FrozenTrial | None,
                folds: int, predicted: int) -> tuple[float, float]:
    """The predicted seconds of the refit of `best` (`refit_seconds`) on all the rows
    `family` may use, and on as many as one of `best`'s fits had (what `plan_fit_rows`
    never gives it fewer of), at `ENDING_SHARE` for a refit that ends itself at its
    limit; zeros where there is no trial or no duration to predict from."""
    seconds = best and refit_seconds(family, plan, best, folds, predicted)
    if not seconds:
        return 0.0, 0.0
    cap = fit_cap(family, plan.n_train)
    sized = ENDING_SHARE if family.fit_stops_itself else 1.0
    return sized * seconds(cap), sized * seconds(min(cap, trial_rows(plan, folds)))


def scales_linearly(family: ModelFamily) -> bool:
    """Whether `family`'s fit grows at most as n and its prediction of a row costs the
    same at any n (gradient boosting, linear models, naive Bayes, networks trained in
    epochs): the learners whose refit on every row a time limit can afford at scale, for
    which the refit stage keeps its time. Forests, nearest neighbours and kernel
    machines grow faster (`automl.api.models.Cost`): they are refitted first, on what the
    others are not predicted to need (`automl.engine.run.refit_stage`)."""
    return family.cost.fit_rows <= 1.0 and family.cost.predict_rows == 0


def fit_cap(family: ModelFamily, n_train: int) -> int:
    """The most rows `family`'s refit may use: all, or its declared cap."""
    return min(n_train, family.cost.max_fit_rows or n_train)


def plan_fit_rows(family: ModelFamily, plan: RowPlan, best: optuna.trial.FrozenTrial,
                  folds: int, limit: float | None, predicted: int) -> RowPlan:
    """`plan` with the refit's rows: all (or the declared cap), or the most whose refit
    (`refit_seconds`) takes at most `REFIT_SAFETY` of `limit` (or of `MIN_STOP_SECONDS`,
    whichever is longer), at any size of table: a pretrained encoder's refit on a few
    thousand texts can take minutes. A refit that ends itself at its limit is sized to
    `ENDING_SHARE` of its predicted seconds. Never fewer than one of its trials' fits had (they
    took that long already; a refit stopped by time is refitted on those,
    `automl.engine.run.refit_searched`), nor than `MIN_ROWS`; except for a family whose
    prediction of a row grows with its training rows (kNN, kernel machines): its trials
    scored a fold's rows, and the test split it predicts after its refit may be many
    times as many (283,000 rows on openintro/military, past its whole share)."""
    cap = fit_cap(family, plan.n_train)
    why = f"its declared cap of {cap:,} rows" if cap < plan.n_train else ""
    refit = refit_seconds(family, plan, best, folds, predicted)
    if limit is None or refit is None:
        return replace(plan, fit_rows=max(cap, plan.search_rows), fit_why=why)
    fitted = min(trial_rows(plan, folds), cap)
    # a refit predicted under REFIT_SAFETY x MIN_STOP_SECONDS gets every row whatever
    # its limit: `refit_stop` never stops a refit sooner than MIN_STOP_SECONDS
    budget = REFIT_SAFETY * max(limit, MIN_STOP_SECONDS)
    if family.fit_stops_itself:
        budget /= ENDING_SHARE
    floor = fitted if family.cost.predict_rows == 0 else min(MIN_ROWS, cap)
    fits = max(largest_rows(refit, budget, cap), floor, min(MIN_ROWS, cap))
    if fits >= cap:
        return replace(plan, fit_rows=cap, fit_why=why, refit_seconds=refit(cap))
    return replace(plan, fit_rows=fits, refit_seconds=refit(fits), fit_why=(
        f"its refit on all {cap:,} rows would take about {refit(cap):.3g} s; it has "
        f"{limit:.3g} s of the refit stage"))


def refit_stop(plan: RowPlan, refit_limit: float | None, trial_limit: float | None,
               trial_seconds: float, ends_itself: bool = False) -> float | None:
    """When a refit is stopped. One that `ends_itself` (a network's or a booster's, which
    ends after the epoch or round past this and keeps its best so far, so that ending it
    loses no model): at `refit_limit`. One sized to `refit_limit`: past the larger of that limit and
    `STOP_FACTOR` times its predicted seconds (a prediction that far off means the fit
    would take the time of what comes after). One not sized by time (no time limit, or
    one retried on fewer rows after it was stopped): past `STOP_FACTOR` times the larger
    of what one of its trials may take and what its best trial took (`trial_seconds`; a
    resumed search may have no seconds left), so that no single fit holds the run. Never
    before `MIN_STOP_SECONDS`. None: no limit."""
    if ends_itself and refit_limit is not None:
        stop = refit_limit
    elif plan.refit_seconds is not None and refit_limit is not None:
        stop = max(refit_limit, STOP_FACTOR * plan.refit_seconds)
    elif trial_limit is not None:
        stop = STOP_FACTOR * max(trial_limit, trial_seconds)
    else:
        return None
    return max(stop, MIN_STOP_SECONDS)


def largest_rows(seconds, budget: float, cap: int) -> int:
    """The most rows n <= `cap` with ``seconds(n) <= budget`` (``seconds`` grows with n),
    rounded down to two significant digits so that it reads as a chosen number."""
    if seconds(cap) <= budget:
        return cap
    low, high = 0, cap
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if seconds(middle) <= budget else (low, middle)
    if low < 100:
        return low
    scale = 10 ** (int(math.log10(low)) - 1)
    return low // scale * scale


def stratified_rows(y: np.ndarray, info: DatasetInfo, n: int, seed: int) -> np.ndarray:
    """`n` row indices of the training split, drawn with `seed` and stratified by class
    for classification. Nested: the rows of a smaller `n` are among those of a larger
    one (the first `n` of one seeded order, in which each class's rows are spread
    evenly), so that families searched on subsamples of different sizes share rows
    (the ensemble blends them on the rows they have in common)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    if info.task_type == "classification":
        position = np.empty(len(y))
        ordered = y[order]
        for label in np.unique(ordered):
            members = order[ordered == label]
            position[members] = (np.arange(len(members)) + rng.random()) / len(members)
        order = order[np.argsort(position[order], kind="stable")]
    return order[:n]


def subset(split: Split, rows: np.ndarray) -> Split:
    """The rows of `split`, in ascending order (a subsample keeps the data's order)."""
    rows = np.sort(rows)
    return Split(take(split.X, rows), split.y[rows],
                 None if split.folds is None else split.folds[rows])


def typical_params(family: ModelFamily, info: DatasetInfo, seed: int) -> dict:
    """A configuration to time: the family's first starting point, or one the random
    sampler draws from its space with the task's seed."""
    if family.starting_points and family.starting_points(info):
        suggested = dict(family.starting_points(info)[0])
        try:
            return family.search_space(optuna.trial.FixedTrial(suggested), info)
        except ValueError:  # a partial starting point: the sampler fills in the rest
            pass
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed))
    return family.search_space(study.ask(), info)


def timed_fits(family: ModelFamily, info: DatasetInfo, params: dict, X, y, X_predict,
               seed: int, device: str) -> tuple[float, float, float]:
    """The probe: seconds of one fit of `params` on the first quarter of (X, y) and of one
    on all of it, and seconds per row for the second to predict `X_predict`. A first,
    untimed fit on the quarter warms up what a first call pays once (imports, caches,
    compiling), which would otherwise read as a cost that does not grow with the rows."""
    seconds = []
    for rows in (len(y) // 4, len(y) // 4, len(y)):
        estimator = family.make_estimator(params, info, seed, device)
        start = time.perf_counter()
        estimator.fit(take(X, slice(0, rows)), y[:rows])
        seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    estimator.predict(X_predict)
    return seconds[1], seconds[2], (time.perf_counter() - start) / len(X_predict)
