"""Samplers adapted to the ask/tell loop of a Hydra sweep."""

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without ``study.stop()`` once the grid is used up.

    ``Study.stop`` only works inside ``Study.optimize``; here the sweeper caps ``n_trials`` at
    the grid size instead, so an exhausted grid simply ends the sweep.
    """

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        return None
