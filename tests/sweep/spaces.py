"""A ``custom_search_space`` hook for the tests: a parameter suggested in code."""

from typing import Any

import optuna
from omegaconf import DictConfig


def y_from_x(cfg: DictConfig, trial: optuna.Trial) -> dict[str, Any]:
    offset = trial.suggest_float("y_offset", 0.0, 4.0)
    return {"y": round(offset)}
