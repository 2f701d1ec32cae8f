"""Entry functions, one per ``mode``: each takes the composed config and returns its metrics."""

from importlib import import_module

from omegaconf import DictConfig

from src import tracking
from src.config.validate import validate

ENTRIES = {
    "train": "src.experiments.train:train",
    "eval": "src.experiments.evaluate:evaluate",
    "predict": "src.experiments.predict:predict",
    "compare": "src.experiments.compare:compare",
}


def run(cfg: DictConfig) -> float | None:
    """Validate ``cfg``, run the entry of ``cfg.mode`` and return the optimized metric.

    Torch is imported only after validation, so bad input fails in well under a second.
    """
    validate(cfg)
    module, func = ENTRIES[cfg.mode.value].split(":")
    entry = getattr(import_module(module), func)
    _route_lightning_logs()
    with tracking.session(cfg) as session:  # loggers end with the job's status, even on errors
        metrics = entry(cfg)
        session.record(metrics)
    value = metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None
    return None if value is None else float(value)


def _route_lightning_logs() -> None:
    """Send Lightning's messages through Hydra's handlers only (console + run log, no doubles)."""
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
