"""What the terminal shows while a task runs.

On a terminal, each family has a tqdm progress bar of its trials, updated after every
trial; elsewhere (logs, CI) a line is printed when each family finishes, so logs stay
short. Under a time limit, every line also says how much of it the run has used.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from automl.budget import TimePlan


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
                       seconds: float | None) -> None:
        """A family's search begins; `previous` are the trials earlier runs finished."""
        self.position, self.family, self.n_trials = position, family, n_trials
        self.reused, self.started, self.best = len(previous), time.monotonic(), best
        self.counts = {state: 0 for state in TrialState}
        for trial in previous:
            self.counts[trial.state] += 1
        if self.live:
            self._bar = tqdm(total=n_trials, initial=len(previous), file=self.stream,
                             desc=f"[{position}] {family:<24}", dynamic_ncols=True,
                             bar_format="{desc} {n_fmt:>3}/{total_fmt} trials {bar:16} "
                                        "{postfix}")
        limit = f"at most {seconds:.0f}s" if seconds is not None else ""
        self._show(limit)

    def trial_finished(self, trial: FrozenTrial, best: float | None) -> None:
        self.counts[trial.state] += 1
        self.best = best
        if self._bar is not None:
            self._bar.update(1)
        self._show("")

    def family_finished(self, summary: str) -> None:
        self._show(summary, final=True)

    def _show(self, extra: str, *, final: bool = False) -> None:
        if self.quiet or not (self.live or final):
            return
        best = f"best {self.best:.4f}" if self.best is not None else "no score yet"
        details = (f"({self.reused} reused, {self.counts[TrialState.PRUNED]} pruned, "
                   f"{self.counts[TrialState.FAIL]} failed)  {best}  "
                   f"{time.monotonic() - self.started:5.1f}s  {extra}{self._budget()}"
                   ).rstrip()
        if self._bar is not None:
            self._bar.set_postfix_str(details, refresh=True)
            if final:
                self._bar.close()
                self._bar = None
            return
        done = sum(self.counts.values())
        print(f"[{self.position}] {self.family:<24} {done:>3}/{self.n_trials} trials "
              f"{details}", file=self.stream, flush=True)

    def _budget(self) -> str:
        """Under a time limit: the run's elapsed and remaining seconds."""
        if self.plan.limit is None:
            return ""
        elapsed = self.plan.elapsed()
        return (f"  [run {elapsed:.0f} of {self.plan.limit:.0f} s, "
                f"{max(0.0, self.plan.limit - elapsed):.0f} s left]")
