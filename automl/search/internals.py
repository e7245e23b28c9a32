"""Every use of Optuna's private API, in one file.

Optuna has no public way to do these two things the engine needs, so they reach into its
internals; after an Optuna upgrade, this file (and tests/test_search.py, which covers both)
is what to check.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState


def fail_trial_of_another_process(study: optuna.Study, trial: FrozenTrial,
                                  attrs: dict[str, object]) -> None:
    """Set `attrs` on a RUNNING trial and mark it failed. The public ``study.tell`` only
    ends trials this process asked, and the process that asked this one is gone."""
    storage = study._storage
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial._trial_id, key, value)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def grid_size(sampler: optuna.samplers.GridSampler) -> int:
    """The number of points of a grid sampler's grid (it keeps them in a private list)."""
    return len(sampler._all_grids)
