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
searches, the refits (after every search: `automl.engine.run.refit_stage`; a run whose refits are
predicted to take longer than the stage's share reserves more, `TimePlan.reserve_refits`,
from the search and from the analyses), the repeated seeds, learning curves and features,
and the report (a few seconds, with room for slow disks)."""
MOST_REFIT_SHARE = 0.4
"""The largest share of the limit the refits may reserve before their stage's end: the
search keeps the rest."""
MOST_ANALYSES_LENT = 0.5
"""The largest part of the analyses' share that the refits may take after their stage's
end: a large table's refits on every row are the comparison itself, its analyses (refits
again with other seeds, learning curves) are cut first; they keep the rest."""


@dataclass
class TimePlan:
    """A run's time limit (None: no limit) and when it started."""

    limit: float | None
    started: float = field(default_factory=time.monotonic)
    refit_reserve: float = 0.0
    """Seconds the refits have reserved before their stage's end (`reserve_refits`)."""
    refit_extension: float = 0.0
    """Seconds the refits have taken from the analyses, after their stage's end."""

    def share(self, stage: str) -> float:
        """The share of the limit, from the start, by which `stage` should end."""
        return dict(STAGES)[stage]

    def reserve_refits(self, seconds: float) -> float:
        """Makes the refit stage `seconds` long where that is longer than its share: half
        of what it lacks from the end of the search stage (at most `MOST_REFIT_SHARE` of
        the limit before the refits' end), half from the analyses after it (at most
        `MOST_ANALYSES_LENT` of theirs), either taking the other's part where that one
        has reached its most. Returns the refit stage's seconds."""
        if self.limit is None:
            return 0.0
        room = self.share("refits") - self.share("search")
        lacking = max(0.0, seconds - room * self.limit)
        most_earlier = (MOST_REFIT_SHARE - room) * self.limit
        most_later = self.lendable() * self.limit
        later = min(lacking / 2, most_later)
        earlier = min(lacking - later, most_earlier)
        later = min(lacking - earlier, most_later)
        self.refit_reserve = room * self.limit + earlier
        self.refit_extension = later
        return self.refit_reserve + self.refit_extension

    def lendable(self) -> float:
        """The share of the limit the analyses may lend the refits."""
        return MOST_ANALYSES_LENT * (self.share("analyses") - self.share("refits"))

    def _ends_after(self, stage: str) -> float:
        """Seconds from the start by which `stage` should end."""
        ends = self.share(stage) * self.limit
        if stage == "search":
            return min(ends, self.share("refits") * self.limit - self.refit_reserve)
        if stage == "refits":
            return ends + self.refit_extension
        return ends

    def left(self, stage: str) -> float | None:
        """Seconds until `stage` should end (0 once it should have); None without a
        limit."""
        if self.limit is None:
            return None
        return max(0.0, self._ends_after(stage) - (time.monotonic() - self.started))

    def end(self, stage: str) -> float | None:
        """When `stage` should end, as a ``time.monotonic()`` time; None without a
        limit."""
        if self.limit is None:
            return None
        return self.started + self._ends_after(stage)

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
        return cls(plan.limit, plan.started, index=index, count=count)

    def share(self, stage: str) -> float:
        if stage in ("search", "refits"):
            return super().share(stage) * (self.index + 1) / self.count
        return super().share(stage)

    def lendable(self) -> float:
        """Only the last split's refits end next to the analyses."""
        return super().lendable() if self.index == self.count - 1 else 0.0


class StageCutoff:
    """Whether a stage's share of the time limit is spent, asked before each fit of an
    analysis; the first time it is, a note says which analysis was cut short. `ends`
    (a ``time.monotonic()`` time) ends it sooner: an analysis's own share of its stage
    (`automl.analyses.stage`); `notes` may be shared by the stage's cutoffs."""

    def __init__(self, plan: TimePlan, stage: str, ends: float | None = None,
                 notes: list[str] | None = None):
        self.plan, self.stage, self.ends = plan, stage, ends
        self.notes: list[str] = [] if notes is None else notes

    def seconds_left(self) -> float | None:
        """Seconds until the stage (or this cutoff's share of it) ends (None without a
        time limit)."""
        left = self.plan.left(self.stage)
        if left is None or self.ends is None:
            return left
        return max(0.0, min(left, self.ends - time.monotonic()))

    def reached(self, what: str) -> bool:
        left = self.seconds_left()
        if left is None or left > 0:
            return False
        if self.plan.spent(self.stage):
            share = dict(STAGES)[self.stage] * (self.plan.limit or 0)
            note = (f"{what} cut short: the time limit's {self.stage} stage ended at "
                    f"{share:.0f} s")
        else:
            note = (f"{what} cut short at its share of the time limit's {self.stage} "
                    f"stage ({self.plan.elapsed():.0f} s)")
        if not any(known.startswith(f"{what} cut short") for known in self.notes):
            self.notes.append(note)
        return True


NO_CUTOFF = StageCutoff(TimePlan(None), "analyses")
"""Never reached: for analyses run without a time limit."""
