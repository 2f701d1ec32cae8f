"""Train a model as configured, then test its best checkpoint (once per fold with cv.folds)."""

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from src.callbacks.history import MetricHistory
from src.experiments import build
from src.experiments.cv import cross_validate
from src.sweep.trial import stop_if_pruned, trial_callbacks
from src.utils import provenance, report
from src.utils.checkpoints import resume_path, verify_checkpoint

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """:func:`fit_and_test`, or with ``cv.folds`` set its cross-validation (one per fold)."""
    if cfg.cv.folds:
        return cross_validate(cfg, fit_and_test)
    return fit_and_test(cfg)


def fit_and_test(cfg: DictConfig) -> dict[str, Any]:
    """Fit, re-validate and test the best checkpoint, compress if asked, write the report.

    Returns:
        Final metrics: ``train/*`` of the last epoch, ``val/*`` and ``test/*`` of the best
        checkpoint (by ``optimized_metric``), the compression member's report, bookkeeping.
    """
    out = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    ckpt = resume_path(cfg)
    datamodule = build.datamodule(cfg)
    module = build.module(cfg)
    verify_checkpoint(ckpt, module, resume=True)  # a foreign or damaged file: one clear line
    callbacks = build.callbacks(cfg) + trial_callbacks(cfg)  # trial_callbacks: Optuna sweeps only
    trainer = build.trainer(cfg, callbacks, build.loggers(cfg))
    if trainer.is_global_zero:
        report.save_config(cfg, out)
        provenance.save(cfg, out)
        if cfg.print_config:
            report.print_config(cfg)

    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt)
    if cfg.get("optuna") is not None and stop_if_pruned(trainer):
        return {}  # a rank > 0 of a pruned sweep trial; rank 0 raised optuna.TrialPruned
    curves = history(trainer)  # before loading the best checkpoint rewinds the callbacks
    metrics: dict[str, Any] = scalars(trainer, "train/")
    best = best_checkpoint(trainer)
    trainer.validate(module, datamodule=datamodule, ckpt_path=best, verbose=False)
    metrics |= scalars(trainer, "val/")
    if cfg.test:
        trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)
        metrics |= scalars(trainer, "test/")
    metrics |= compress(cfg, module, trainer, datamodule)
    metrics |= {
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "best_checkpoint": best,
        "run_dir": str(out),
        "world_size": trainer.world_size,
        "precision": str(trainer.precision),
    }
    if trainer.is_global_zero:
        report.finish(metrics, curves, out)
    return metrics


def compress(
    cfg: DictConfig, module: pl.LightningModule, trainer: pl.Trainer, datamodule: Any
) -> dict[str, Any]:
    """The ``compression`` member's post-training transform and its report (none: nothing)."""
    if cfg.compression.get("transform") is None:
        return {}
    transform = build.instantiate(cfg, "compression.transform")
    return dict(transform(module=module, trainer=trainer, datamodule=datamodule))


def scalars(trainer: pl.Trainer, prefix: str) -> dict[str, float]:
    """Epoch-level scalar metrics starting with ``prefix`` from the trainer's last loop."""
    return {
        k.removesuffix("_epoch"): float(v)
        for k, v in trainer.callback_metrics.items()
        if k.startswith(prefix) and v.numel() == 1 and not k.endswith("_step")
    }


def best_checkpoint(trainer: pl.Trainer) -> str | None:
    """Best checkpoint of the ModelCheckpoint that monitors a metric; None when there is none."""
    paths = [
        cb.best_model_path
        for cb in trainer.checkpoint_callbacks
        if isinstance(cb, ModelCheckpoint) and cb.monitor and cb.best_model_path
    ]
    return paths[0] if paths else None


def history(trainer: pl.Trainer) -> list[dict[str, float]]:
    """Every epoch's scalars recorded by the MetricHistory callback (none without it)."""
    for cb in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(cb, MetricHistory):
            return list(cb.rows)
    return []
