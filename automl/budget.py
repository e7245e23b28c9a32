"""The plan for a whole-command time limit (`[search] time_limit`, `--time-limit`).

The limit is wall-clock seconds from the start of the command. It is shared out across the
stages of a run by `STAGES`: each stage ends at a fixed share of the limit, counted from
the start, so time a stage does not use is left to the stages after it. Within the search,
the families share what is left of it as ``total_timeout`` is shared (in proportion to
their own timeouts), and no trial may run past its family's share (the `trial_timeout`
worker ends it). Analyses stop starting fits once theirs is spent, and say so. The report
is always written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

STAGES = (("search", 0.65), ("refits", 0.70), ("analyses", 0.92), ("report", 1.0))
"""Each stage and the share of the limit, from the start, by which it should end: the
searches (each family's refit follows its search, so refits share this deadline), refits,
the repeated seeds, learning curves and features, and the report (a few seconds, with room
for slow disks)."""


@dataclass
class TimePlan:
    """A run's time limit (None: no limit) and when it started."""

    limit: float | None
    started: float = field(default_factory=time.monotonic)

    def share(self, stage: str) -> float:
        """The share of the limit, from the start, by which `stage` should end."""
        return dict(STAGES)[stage]

    def left(self, stage: str) -> float | None:
        """Seconds until `stage` should end (0 once it should have); None without a
        limit."""
        if self.limit is None:
            return None
        return max(0.0, self.share(stage) * self.limit - (time.monotonic() - self.started))

    def end(self, stage: str) -> float | None:
        """When `stage` should end, as a ``time.monotonic()`` time; None without a
        limit."""
        if self.limit is None:
            return None
        return self.started + self.share(stage) * self.limit

    def spent(self, stage: str) -> bool:
        left = self.left(stage)
        return left is not None and left <= 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def describe(self) -> str:
        """The plan in one line, for the terminal and the report."""
        if self.limit is None:
            return ""
        ends = ", ".join(f"{stage} by {share * self.limit:.0f} s" for stage, share in STAGES)
        return f"time limit {self.limit:g} s: {ends}"


@dataclass
class SplitPlan(TimePlan):
    """The plan of outer split `index` (from 0) of `count`, as the splits share a run's
    time limit: their searches and refits one after another, each split's ending at its
    share of the run's search and refit stages; the analyses and report keep the run's."""

    index: int = 0
    count: int = 1

    @classmethod
    def of(cls, plan: TimePlan, index: int, count: int) -> SplitPlan:
        return cls(plan.limit, plan.started, index, count)

    def share(self, stage: str) -> float:
        if stage in ("search", "refits"):
            return super().share(stage) * (self.index + 1) / self.count
        return super().share(stage)


class StageCutoff:
    """Whether a stage's share of the time limit is spent, asked before each fit of an
    analysis; the first time it is, a note says which analysis was cut short."""

    def __init__(self, plan: TimePlan, stage: str):
        self.plan, self.stage = plan, stage
        self.notes: list[str] = []

    def seconds_left(self) -> float | None:
        """Seconds until the stage ends (None without a time limit)."""
        return self.plan.left(self.stage)

    def reached(self, what: str) -> bool:
        if not self.plan.spent(self.stage):
            return False
        share = dict(STAGES)[self.stage] * (self.plan.limit or 0)
        note = (f"{what} cut short: the time limit's {self.stage} stage ended at "
                f"{share:.0f} s")
        if note not in self.notes:
            self.notes.append(note)
        return True


NO_CUTOFF = StageCutoff(TimePlan(None), "analyses")
"""Never reached: for analyses run without a time limit."""
