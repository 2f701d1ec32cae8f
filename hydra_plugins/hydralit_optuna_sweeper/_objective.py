"""What the study optimizes: the objective names and their directions.

``hydra.sweeper.direction: null`` takes the direction from the job config's ``optimized_mode``
(max -> maximize, min -> minimize), the key that checkpointing and early stopping read too, so
that a sweep cannot maximize what training minimizes. An explicit direction wins, but one that
contradicts ``optimized_mode`` for ``optimized_metric`` is refused.
"""

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.hydralit_optuna_sweeper.errors import SweepConfigError

log = logging.getLogger(__name__)

DIRECTION_OF = {"max": "maximize", "min": "minimize"}


def objectives(setting: Any, job: DictConfig) -> list[str]:
    """``hydra.sweeper.objectives``, or else the job's ``optimized_metric``."""
    return [str(o) for o in setting] if setting else [job.get("optimized_metric")]


def directions(setting: Any, names: list[str], job: DictConfig) -> list[str]:
    """One direction per objective in ``names``, from ``setting`` or ``optimized_mode``."""
    if setting is None:
        return [_derived(names, job)]
    given = _parse(setting)
    if len(given) != len(names):
        raise SweepConfigError(
            "direction",
            OmegaConf.to_container(setting) if OmegaConf.is_list(setting) else setting,
            f"{len(given)} direction(s) for {len(names)} objective(s) {names}",
            "give one direction per entry of hydra.sweeper.objectives",
        )
    metric, mode = job.get("optimized_metric"), job.get("optimized_mode")
    for name, direction in zip(names, given, strict=True):
        if name == metric and mode in DIRECTION_OF and DIRECTION_OF[mode] != direction:
            other, better = ("min", "lower") if mode == "max" else ("max", "higher")
            raise SweepConfigError(
                "direction",
                direction,
                f"contradicts optimized_mode={mode!r} for optimized_metric={metric!r}",
                "drop hydra.sweeper.direction (null derives it from optimized_mode), or set "
                f"optimized_mode={other} if a {better} {metric} is better",
            )
    return given


def _derived(names: list[str], job: DictConfig) -> str:
    metric, mode = job.get("optimized_metric"), job.get("optimized_mode")
    if len(names) > 1:
        raise SweepConfigError(
            "direction",
            None,
            f"the {len(names)} objectives {names} need one direction each "
            "(optimized_mode gives only optimized_metric's)",
            f"set hydra.sweeper.direction=[{','.join(['maximize'] * len(names))}], "
            "one maximize|minimize per objective",
        )
    if names[0] != metric:
        raise SweepConfigError(
            "direction",
            None,
            f"optimized_mode describes optimized_metric={metric!r}, not the objective {names[0]!r}",
            "set hydra.sweeper.direction=maximize or minimize",
        )
    if mode is None:
        # a job config without the key (not hydralit's run.py): the previous default
        log.info("direction: maximize (the job config has no optimized_mode)")
        return "maximize"
    if mode not in DIRECTION_OF:
        raise SweepConfigError(
            "direction",
            None,
            f"cannot be derived from optimized_mode={mode!r}, which is neither max nor min",
            "set optimized_mode=max or optimized_mode=min",
        )
    return DIRECTION_OF[mode]


def _parse(value: Any) -> list[str]:
    given = list(value) if OmegaConf.is_list(value) or isinstance(value, list) else [value]
    for d in given:
        if d not in ("maximize", "minimize"):
            raise SweepConfigError(
                "direction",
                d,
                "must be maximize or minimize",
                "e.g. direction=maximize or direction=[maximize,minimize], or null to derive "
                "it from optimized_mode",
            )
    return [str(d) for d in given]
