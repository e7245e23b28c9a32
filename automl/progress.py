"""What the terminal shows while a task runs.

On a terminal, one line per family is rewritten after every trial; elsewhere (logs, CI)
a line is printed when each family finishes, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from optuna.trial import FrozenTrial, TrialState


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, *, quiet: bool = False):
        self.stream = stream
        self.quiet = quiet
        self.live = stream.isatty() and not quiet
        self._line = ""

    def message(self, text: str) -> None:
        if not self.quiet:
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
        limit = f", at most {seconds:.0f}s" if seconds is not None else ""
        self._show(f"searching{limit}")

    def trial_finished(self, trial: FrozenTrial, best: float | None) -> None:
        self.counts[trial.state] += 1
        self.best = best
        self._show("")

    def family_finished(self, summary: str) -> None:
        self._show(summary, final=True)

    def _show(self, extra: str, *, final: bool = False) -> None:
        if self.quiet or not (self.live or final):
            return
        done = sum(self.counts.values())
        best = f"best {self.best:.4f}" if self.best is not None else "no score yet"
        line = (f"[{self.position}] {self.family:<24} {done:>3}/{self.n_trials} "
                f"trials ({self.reused} reused, {self.counts[TrialState.PRUNED]} pruned, "
                f"{self.counts[TrialState.FAIL]} failed)  {best}  "
                f"{time.monotonic() - self.started:5.1f}s  {extra}").rstrip()
        if self.live:
            padding = " " * max(0, len(self._line) - len(line))
            end = "\n" if final else ""
            print(f"\r{line}{padding}", end=end, file=self.stream, flush=True)
            self._line = "" if final else line
        else:
            print(line, file=self.stream, flush=True)
