"""Predictions of a checkpoint: ``python run.py mode=predict ckpt_path=<file>``."""

import csv
from pathlib import Path
from typing import Any, cast

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig
from rich.console import Console

from src.errors import UserError
from src.experiments import build
from src.hardware import distributed
from src.utils import provenance, report
from src.utils.checkpoints import resume_path, verify_checkpoint

Columns = dict[str, torch.Tensor]


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Predict ``predict.split`` and write one CSV row per sample.

    Columns: ``index`` (position in the split), then every per-sample tensor the task's
    ``predict_step`` returns, in its order (a (B, K) tensor becomes ``<name>_0..<name>_K-1``).
    """
    out = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    ckpt = resume_path(cfg)
    module = build.module(cfg)
    # one line naming the file when it is foreign, damaged or of another model or data set
    checkpoint = verify_checkpoint(ckpt, module)
    datamodule = build.datamodule(cfg, checkpoint)
    trainer = build.trainer(cfg, build.callbacks(cfg), [])
    if trainer.is_global_zero:
        report.save_config(cfg, out)
        provenance.save(cfg, out)
    batches = cast(
        list[Columns], trainer.predict(module, datamodule=datamodule, ckpt_path=ckpt) or []
    )
    # every rank's rows, in the split's order (a collective: all ranks run this job)
    columns = {k: distributed.gather_split(trainer, v) for k, v in concat(batches).items()}
    path = out / cfg.predict.output_file
    rows = len(next(iter(columns.values()))) if columns else 0
    if trainer.is_global_zero:
        write_csv(path, columns)
        Console().print(
            f"wrote {rows} predictions of the {cfg.predict.split} split to [bold]{path}[/]"
        )
    metrics: dict[str, Any] = {"predictions": str(path), "rows": rows, "run_dir": str(out)}
    metrics |= accuracy(columns, cfg.predict.split)
    return metrics


def accuracy(columns: Columns, split: str) -> dict[str, float]:
    """``<split>/acc`` over the rows with a class label (targets -1 have none, e.g. new rows);
    nothing for float targets (regression) or when no row has a label."""
    target, pred = columns.get("target"), columns.get("prediction")
    if target is None or pred is None or target.is_floating_point():
        return {}
    labelled = target >= 0
    if not labelled.any():
        return {}
    return {f"{split}/acc": float((pred[labelled] == target[labelled]).float().mean())}


def concat(batches: list[Columns]) -> Columns:
    """The batches' columns joined along the sample axis."""
    if not batches:
        return {}
    if not all(isinstance(b, dict) for b in batches):
        raise UserError(
            "predict: the model's predict_step must return a dict of per-sample tensors "
            f"(column name -> (B,) or (B, K) tensor), got {type(batches[0]).__name__}"
        )
    return {k: torch.cat([b[k].detach().cpu() for b in batches]) for k in batches[0]}


def write_csv(path: Path, columns: Columns) -> None:
    """``index`` and the columns; floats with 6 decimals, (N, K) tensors as K columns."""
    header, blocks = ["index"], []
    for name, tensor in columns.items():
        flat = tensor.reshape(len(tensor), -1)
        header += [name] if tensor.ndim == 1 else [f"{name}_{j}" for j in range(flat.shape[1])]
        blocks.append(flat.tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, parts in enumerate(zip(*blocks, strict=True)):
            writer.writerow([i, *(_cell(v) for part in parts for v in part)])


def _cell(value: float | int | bool) -> str:
    return f"{value:.6f}" if isinstance(value, float) else str(value)
