"""A task that exists only in tests: reconstruct the input through a bottleneck.

It proves the task contract: two networks, its own metric and a *minimised* objective, its own
prediction columns and a task callback, all through the unchanged train / eval / predict /
compare entries and the Optuna sweeper.
"""

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.optim import Optimizer
from torchmetrics import Metric

from src.callbacks.outputs import TestOutputs
from src.optim import SchedulerSpec


class Reconstruction(pl.LightningModule):
    """``decoder(encoder(x))`` regresses ``x``; logs ``<split>/loss`` and ``<split>/<metric>``."""

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: SchedulerSpec | None = None,
        metrics: Mapping[str, Metric] | None = None,
        callbacks: Mapping[str, Callback] | None = None,
    ) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.optimizer_factory, self.scheduler = optimizer, scheduler
        self.metrics = nn.ModuleDict(
            {f"{s}_{k}": m.clone() for s in ("val", "test") for k, m in (metrics or {}).items()}
        )
        self.task_callbacks = list((callbacks or {}).values())

    def configure_callbacks(self) -> list[Callback]:
        return [cb for cb in self.task_callbacks if cb not in self.trainer.callbacks]

    def _errors(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch["x"]
        code = self.encoder(x)  # (B, bottleneck)
        recon = self.decoder(code).view_as(x)
        return (recon - x).pow(2).flatten(1).mean(1), code  # per-sample mse (B,)

    def _step(self, batch: dict[str, torch.Tensor], split: str) -> torch.Tensor:
        errors, _ = self._errors(batch)
        loss = errors.mean()
        self.log(f"{split}/loss", loss, on_step=False, on_epoch=True, batch_size=len(errors))
        for key, metric in self.metrics.items():
            if key.startswith(f"{split}_"):
                x = batch["x"]
                metric.update(self.decoder(self.encoder(x)).view_as(x).flatten(1), x.flatten(1))
                self.log(f"{split}/{key.split('_', 1)[1]}", metric, on_epoch=True)
        return errors

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train").mean()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, Any]:
        return {"error": self._step(batch, "test")}

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, Any]:
        errors, code = self._errors(batch)
        return {"error": errors, "code": code}

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        schedule = self.scheduler.build(optimizer, self.trainer) if self.scheduler else None
        return optimizer if schedule is None else {"optimizer": optimizer, "lr_scheduler": schedule}


class WorstReconstructions(pl.Callback):
    """The task's artefact: indices and errors of the ``k`` worst test samples (all ranks)."""

    def __init__(self, output_dir: str, k: int = 5) -> None:
        self.output_dir, self.k, self.outputs = Path(output_dir), k, TestOutputs()

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.outputs.reset()

    def on_test_batch_end(self, trainer: pl.Trainer, module: Any, outputs: Any, *a: Any) -> None:
        self.outputs.add(outputs)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        errors = self.outputs.gather(trainer)["error"]
        if trainer.is_global_zero:
            worst = errors.topk(min(self.k, len(errors)))
            report = {"samples": len(errors), "worst": worst.indices.tolist()}
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "worst_reconstructions.json").write_text(json.dumps(report))
