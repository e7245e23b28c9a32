"""The rows a family's search and refit used, the fit-time curve they were sized by, and
the trial attributes it is read from: plain values that `automl.fitting.sizing` plans and the
results carry."""

from __future__ import annotations

from dataclasses import dataclass

FOLDS_DONE = "folds_done"
"""The user attribute of a trial stopped by time: how many of its folds it had scored."""


def stopped_by_time(trial) -> bool:
    """Whether `trial` (an Optuna `FrozenTrial`) failed because a time limit stopped it
    (it has `FOLDS_DONE`): the budget at work, counted apart from trials that raised."""
    return trial.state.name == "FAIL" and FOLDS_DONE in trial.user_attrs


FIT_SECONDS, SCORE_SECONDS = "fit_seconds", "score_seconds"
"""The user attributes of a trial's seconds in its folds' fits alone and in their
scoring alone (where they were fitted one by one): the rest of its duration is sending
and starting, which a refit's size does not change."""


@dataclass(frozen=True)
class RowPlan:
    """The training rows a family's search used (`search_rows` of `n_train`; 0: skipped)
    and, once it is refitted, the refit's (`fit_rows`), with why there are fewer."""

    n_train: int
    search_rows: int
    why: str = ""
    fit_rows: int | None = None
    fit_why: str = ""
    fit: FitTime | None = None  # the probe's measured fit time, where one ran
    predict_seconds: float = 0.0  # the probe's seconds per predicted row, fitted on 2,000
    refit_seconds: float | None = None  # the refit's predicted seconds, where sized by time

    @property
    def subsampled(self) -> bool:
        return self.search_rows < self.n_train or (self.fit_rows or self.n_train) < self.n_train

    @property
    def skipped(self) -> bool:
        return self.search_rows == 0

    def describe(self, family: str) -> str:
        """One sentence for the terminal and the report."""
        if self.skipped:
            return f"{family} skipped: {self.why}"
        text = (f"{family} searched on {self.search_rows:,} of {self.n_train:,} training rows"
                + (f" ({self.why})" if self.why else "")
                if self.search_rows < self.n_train else
                f"{family} searched on all {self.n_train:,} training rows")
        if self.fit_rows is not None:
            text += f"; refitted on {self.fit_rows:,}" + (f" ({self.fit_why})"
                                                          if self.fit_why else "")
        return text

    def describe_refit(self, family: str) -> str:
        """The refit's rows in one sentence (the search's are said as it starts)."""
        return (f"{family} refitted on {self.fit_rows:,} of {self.n_train:,} training rows"
                + (f" ({self.fit_why})" if self.fit_why else ""))


@dataclass(frozen=True)
class FitTime:
    """A fit's seconds on n rows: ``constant + scale * n ** exponent``, with the exponent
    declared (`automl.api.models.Cost.fit_rows`) and the rest measured."""

    constant: float
    scale: float
    exponent: float

    def __call__(self, rows: float) -> float:
        return self.constant + self.scale * rows ** self.exponent

    @classmethod
    def measured(cls, exponent: float, small: int, small_seconds: float, large: int,
                 large_seconds: float) -> FitTime:
        """From fits on `small` and `large` rows. Where timing noise makes the larger fit
        no slower, all of its time is taken to grow with n (the cautious reading)."""
        grows = large ** exponent - small ** exponent
        scale = (large_seconds - small_seconds) / grows
        if scale <= 0:
            return cls(0.0, large_seconds / large ** exponent, exponent)
        return cls(max(0.0, large_seconds - scale * large ** exponent), scale, exponent)

    def through(self, rows: int, seconds: float) -> FitTime:
        """This curve's constant, with its growing part refitted to pass through
        (`rows`, `seconds`): a measured fit of another configuration."""
        scale = max(seconds - self.constant, 0.0) / rows ** self.exponent
        return FitTime(self.constant, scale, self.exponent) if scale > 0 else \
            FitTime(0.0, seconds / rows ** self.exponent, self.exponent)
