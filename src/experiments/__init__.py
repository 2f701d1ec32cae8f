"""Entry functions, one per ``mode`` (``conf/mode/<name>.yaml`` names its ``entry``): each takes
the composed config and returns its final metrics."""

import logging

from hydra.utils import get_method
from omegaconf import DictConfig

from src import tracking
from src.config.lightning_errors import as_user_errors
from src.config.validate import validate


def run(cfg: DictConfig) -> float | None:
    """Validate ``cfg``, run the entry of ``cfg.mode`` and return the optimized metric.

    Torch is imported only after validation, so bad input fails in well under a second.
    """
    validate(cfg)
    entry = get_method(cfg.mode.entry)
    _route_lightning_logs()
    with tracking.session(cfg) as session:  # loggers end with the job's status, even on errors
        with as_user_errors(cfg):  # Lightning's checks of trainer.* against the data: one line
            metrics = entry(cfg)
        session.record(metrics)
    value = metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None
    return None if value is None else float(value)


def _route_lightning_logs() -> None:
    """Send Lightning's messages through Hydra's handlers only (console + run log, no doubles)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
