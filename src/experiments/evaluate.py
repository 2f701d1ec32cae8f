"""Test a checkpoint: ``python run.py mode=eval ckpt_path=<file>`` (same dataset/model config)."""

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from omegaconf import DictConfig

from src.experiments import build
from src.experiments.train import scalars
from src.utils import provenance, report
from src.utils.checkpoints import resume_path, verify_checkpoint


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run the validation and test splits through the checkpoint; write metrics.json and the
    task's artefacts (its test callbacks)."""
    out = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    ckpt = resume_path(cfg)
    module = build.module(cfg)
    # one line naming the file when it is foreign, damaged or of another model or data set
    checkpoint = verify_checkpoint(ckpt, module)
    datamodule = build.datamodule(cfg, checkpoint)
    trainer = build.trainer(cfg, build.callbacks(cfg), build.loggers(cfg))
    if trainer.is_global_zero:
        report.save_config(cfg, out)
        provenance.save(cfg, out)
    trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
    metrics: dict[str, Any] = scalars(trainer, "val/")
    trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
    metrics |= scalars(trainer, "test/") | {"checkpoint": ckpt, "run_dir": str(out)}
    if trainer.is_global_zero:
        report.finish(metrics, [], out)
    return metrics
