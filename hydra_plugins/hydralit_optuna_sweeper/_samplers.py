"""Samplers adapted to the ask/tell loop of a Hydra sweep, and their seed on resume."""

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

# samplers that keep their place in the study (QMC its sequence index, the grid its visited
# points): the configured seed continues their sequence in a new process
KEEP_SEED = ("QMCSampler", "GridSampler")


def trial_seed(target: str, seed: int | None, n_in_study: int) -> int | None:
    """The seed of the sampler that asks the next trial of a study holding ``n_in_study``.

    A seeded sampler in a new process draws its random sequence from the start again: a
    rerun after a kill would repeat the first run's parameters (trials 5, 6, 7 = 0, 1, 2), and
    sweepers started together on one study would draw the same points. Seeding each ask with
    the configured seed plus the trials already in the study draws new points, and stays
    reproducible: a fresh sweep asks trial k with seed + k.
    """
    if seed is None or target.endswith(KEEP_SEED):
        return seed
    return int(seed) + n_in_study


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
