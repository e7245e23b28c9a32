"""What the terminal shows while a task runs.

On a terminal, each family has a tqdm progress bar of its trials, updated after every
trial and replaced by the family's line when it finishes; elsewhere (logs, CI) only that
line is printed, so logs stay short. Under a time limit, every line also says how much of
it the run has used.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from automl.fitting.budget import TimePlan
from automl.fitting.row_plans import stopped_by_time

STOPPED = "stopped"
"""Counted apart from the failed trials: a trial the time limit stopped
(`automl.fitting.row_plans.stopped_by_time`)."""


def counted_as(trial: FrozenTrial) -> TrialState | str:
    """How the terminal counts `trial`: its state, or `STOPPED`."""
    return STOPPED if stopped_by_time(trial) else trial.state


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, *, quiet: bool = False):
        self.stream = stream
        self.quiet = quiet
        self.live = stream.isatty() and not quiet
        self.plan = TimePlan(None)  # set by the run when it has a time limit
        self._bar: tqdm | None = None

    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:  # above the bar, which is redrawn below
            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def family_started(self, position: str, family: str, n_trials: int,
                       previous: list[FrozenTrial], best: float | None,
                       seconds: float | None, *, reused: int | None = None) -> None:
        """A family's search begins; `previous` are the trials already finished, by
        earlier runs unless `reused` says how many of them were (the others ran in this
        run's first-trial round)."""
        self.position, self.family, self.n_trials = position, family, n_trials
        self.reused = len(previous) if reused is None else reused
        self.started, self.best = time.monotonic(), best
        self.counts = {state: 0 for state in (*TrialState, STOPPED)}
        for trial in previous:
            self.counts[counted_as(trial)] += 1
        if self.live:  # the bar first: a line wider than the terminal is cut at its end
            self._bar = tqdm(total=n_trials, initial=len(previous), file=self.stream,
                             dynamic_ncols=True, leave=False, bar_format="{bar:12} {desc}")
        limit = f"at most {seconds:.0f}s" if seconds is not None else ""
        self._show(limit)

    def trial_finished(self, trial: FrozenTrial, best: float | None) -> None:
        self.counts[counted_as(trial)] += 1
        self.best = best
        if self._bar is not None:
            self._bar.update(1)
        self._show("")

    def refit_finished(self, position: str, family: str, seconds: float,
                       summary: str) -> None:
        """A family's refit in the refit stage ended (`seconds` since it started)."""
        if not self.quiet:
            print(f"[{position}] {family:<24} {summary}  {seconds:5.1f}s{self._budget()}",
                  file=self.stream, flush=True)

    def family_finished(self, summary: str) -> None:
        self._show(summary, final=True)

    def _show(self, extra: str, *, final: bool = False) -> None:
        if self.quiet or not (self.live or final):
            return
        best = f"best {self.best:.4f}" if self.best is not None else "no score yet"
        stopped = self.counts[STOPPED]
        details = (f"({self.reused} reused, {self.counts[TrialState.PRUNED]} pruned, "
                   + (f"{stopped} stopped by time, " if stopped else "")
                   + f"{self.counts[TrialState.FAIL]} failed)  {best}  "
                   f"{time.monotonic() - self.started:5.1f}s  {extra}{self._budget()}"
                   ).rstrip()
        done = sum(self.counts.values())
        line = f"[{self.position}] {self.family:<24} {done:>3}/{self.n_trials} trials {details}"
        if self._bar is not None and not final:
            self._bar.set_description_str(line, refresh=True)
            return
        if self._bar is not None:  # the bar goes; the family's line stays, whole
            self._bar.close()
            self._bar = None
        print(line, file=self.stream, flush=True)

    def _budget(self) -> str:
        """Under a time limit: the run's elapsed and remaining seconds."""
        if self.plan.limit is None:
            return ""
        elapsed = self.plan.elapsed()
        return (f"  [run {elapsed:.0f} of {self.plan.limit:.0f} s, "
                f"{max(0.0, self.plan.limit - elapsed):.0f} s left]")
