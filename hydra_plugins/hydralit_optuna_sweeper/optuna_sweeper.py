"""The Hydra Sweeper plugin class; the work is in :mod:`._impl`, imported when a sweep starts."""

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.hydralit_optuna_sweeper import config as _config  # noqa: F401  registers


class OptunaSweeper(Sweeper):
    """Runs an Optuna study through any Hydra launcher, ``n_jobs`` trials per batch."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra_plugins.hydralit_optuna_sweeper._impl import OptunaSweep

        self.hydra_context, self.config = hydra_context, config
        self.impl = OptunaSweep(self.settings, hydra_context, task_function, config)
        self.launcher = self.impl.launcher

    def sweep(self, arguments: list[str]) -> Any:
        return self.impl.sweep(arguments, self.validate_batch_is_legal)
