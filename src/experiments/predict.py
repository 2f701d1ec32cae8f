"""Predictions of a checkpoint for one split: ``python run.py mode=predict ckpt_path=<file>``."""

import csv
from pathlib import Path
from typing import Any, cast

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig
from rich.console import Console

from src.errors import ConfigError
from src.experiments import build
from src.hardware import distributed
from src.utils import report
from src.utils.checkpoints import resume_path, verify_checkpoint


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Predict ``predict.split`` and write one CSV row per sample.

    Columns: ``index`` (position in the split), ``target``, ``prediction``, then one
    ``prob_<class>`` column per class (binary tasks: the probability of class 1).
    """
    out = Path(cfg.paths.output_dir)
    if cfg.predict.split not in ("train", "val", "test"):
        raise ConfigError("predict.split", cfg.predict.split, "one of train, val, test")
    pl.seed_everything(cfg.seed, workers=True)
    datamodule: Any = build.datamodule(cfg)
    datamodule.predict_split = cfg.predict.split
    module = build.module(cfg)
    verify_checkpoint(resume_path(cfg), module)
    trainer = build.trainer(cfg, build.callbacks(cfg), [])
    batches = cast(
        list[dict[str, torch.Tensor]],
        trainer.predict(module, datamodule=datamodule, ckpt_path=resume_path(cfg)),
    )
    # every rank's rows, in the split's order (a collective: all ranks run this job)
    probs = distributed.gather_split(trainer, torch.cat([b["probs"] for b in batches]).float())
    target = distributed.gather_split(trainer, torch.cat([b["target"] for b in batches]))
    pred = (probs > 0.5).long() if probs.ndim == 1 else probs.argmax(1)
    path = out / cfg.predict.output_file
    if trainer.is_global_zero:
        report.save_config(cfg, out)
        write_csv(path, probs, target, pred, datamodule.class_names)
        Console().print(
            f"wrote {len(pred)} predictions of the {cfg.predict.split} split to [bold]{path}[/]"
        )
    accuracy = float((pred == target).float().mean())
    return {f"{cfg.predict.split}/acc": accuracy, "predictions": str(path), "run_dir": str(out)}


def write_csv(
    path: Path,
    probs: torch.Tensor,
    target: torch.Tensor,
    pred: torch.Tensor,
    class_names: list[str],
) -> None:
    columns = [f"prob_{class_names[-1]}"] if probs.ndim == 1 else [f"prob_{c}" for c in class_names]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "target", "prediction", *columns])
        for i, (t, p, row) in enumerate(
            zip(target.tolist(), pred.tolist(), probs.tolist(), strict=True)
        ):
            writer.writerow([i, t, p, *([row] if probs.ndim == 1 else [f"{v:.6f}" for v in row])])
