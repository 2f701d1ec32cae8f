"""Train a model as configured, then test its best checkpoint."""

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from src.callbacks.history import MetricHistory
from src.experiments import build
from src.hardware import distributed
from src.sweep.trial import stop_if_pruned, trial_callbacks
from src.utils import report
from src.utils.checkpoints import resume_path, verify_checkpoint

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, re-validate and test the best checkpoint, write metrics.json and plots.

    Returns:
        Final metrics: ``train/*`` of the last epoch, ``val/*`` and ``test/*`` of the best
        checkpoint (by ``callbacks.model_checkpoint.monitor``), and bookkeeping entries.
    """
    out = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = build.datamodule(cfg)
    module = build.module(cfg)
    verify_checkpoint(resume_path(cfg), module, resume=True)
    callbacks = build.callbacks(cfg) + trial_callbacks(cfg)  # trial_callbacks: Optuna sweeps only
    trainer = build.trainer(cfg, callbacks, build.loggers(cfg))
    if trainer.is_global_zero:
        report.save_config(cfg, out)
        if cfg.print_config:
            report.print_config(cfg)

    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_path(cfg))
    if cfg.get("optuna") is not None and stop_if_pruned(trainer):
        return {}  # a rank > 0 of a pruned sweep trial; rank 0 raised optuna.TrialPruned
    curves = list(history(trainer))  # before loading the best checkpoint rewinds the callbacks
    metrics: dict[str, Any] = scalars(trainer, "train/")
    best = best_checkpoint(trainer)
    trainer.validate(module, datamodule=datamodule, ckpt_path=best, verbose=False)
    metrics |= scalars(trainer, "val/")
    if cfg.test:
        trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)
        metrics |= scalars(trainer, "test/")
    metrics |= {
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "best_checkpoint": best,
        "run_dir": str(out),
        "world_size": trainer.world_size,
        "precision": str(trainer.precision),
    }
    test_outputs: list[Any] = getattr(module, "test_outputs", [])
    test_outputs[:] = distributed.gather_pairs(trainer, test_outputs)  # all ranks', for the plots
    if trainer.is_global_zero:
        finish(module, datamodule, metrics, curves, out)
    return metrics


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
    return next((cb.rows for cb in trainer.callbacks if isinstance(cb, MetricHistory)), [])  # type: ignore[attr-defined]


def finish(
    module: pl.LightningModule,
    datamodule: Any,
    metrics: dict[str, Any],
    curves: list[dict[str, float]],
    out: Path,
) -> None:
    """Write metrics.json and the PNG plots, print the summary (rank 0 only)."""
    report.write_metrics(out, metrics)
    class_names = getattr(datamodule, "class_names", [])
    report.write_plots(out, curves, getattr(module, "test_outputs", None), class_names)
    report.print_summary("final metrics", metrics, out)
