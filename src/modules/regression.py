"""Regression: one or several numbers per sample, from any network and any named inputs."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.optim import Optimizer
from torchmetrics import Metric

from src.errors import ConfigError
from src.modules.supervised import (
    Batch,
    SplitMetrics,
    attached_for_test,
    inputs_of,
    optimizer_and_schedule,
)
from src.networks.init import initialize
from src.optim import SchedulerSpec

SCALINGS = ("standard", "none")


class RegressionModule(pl.LightningModule):
    """Trains ``net`` to predict ``target``; logs loss and metrics per split as ``<split>/<name>``.

    With ``target_scaling=standard`` the network learns the target standardised by the mean
    and standard deviation of the training split (one pass over the training batches before the
    first epoch, summed over ranks): a target in the thousands then trains like one near 0.
    The two are buffers, saved in every checkpoint. The loss is computed on that scale (what is
    optimised, logged as ``<split>/loss``); predictions and the metrics (``mse``, ``mae``,
    ``r2``) are in the target's own units.

    Args:
        net: maps the batch's named inputs to (B, num_outputs).
        optimizer: optimizer factory called with the parameters (``_partial_: true``).
        scheduler: learning-rate schedule; None or an empty spec for a constant lr.
        num_outputs: numbers per sample: 1 for a (B,) target, K for a (B, K) one.
        metrics: name -> metric over (prediction, target) in the target's units, computed on the
            validation and test splits.
        train_metrics: names of ``metrics`` also computed on the training split, every step.
        loss: loss module on the (scaled) target; None: MSELoss.
        target_scaling: ``standard`` or ``none``.
        init: weight initialisation scheme (see :func:`src.networks.init.initialize`).
        callbacks: the task's own callbacks (the residual plot of the test split).
    """

    target_offset: torch.Tensor
    target_scale: torch.Tensor
    scaled: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: SchedulerSpec | None = None,
        num_outputs: int = 1,
        metrics: Mapping[str, Metric] | None = None,
        train_metrics: Sequence[str] = (),
        loss: nn.Module | None = None,
        target_scaling: str = "standard",
        init: str = "default",
        callbacks: Mapping[str, Callback] | None = None,
    ) -> None:
        super().__init__()
        self.net, self.optimizer_factory, self.scheduler = net, optimizer, scheduler
        initialize(self.net, init)
        self.metrics = SplitMetrics(metrics, train_metrics, shown="r2")
        self.task_callbacks = list((callbacks or {}).values())
        if target_scaling not in SCALINGS:
            raise ConfigError("model.target_scaling", target_scaling, "one of standard, none")
        self.loss = loss or nn.MSELoss()
        self.target_scaling = target_scaling
        # the target's offset and scale per output; `scaled` records that they were measured
        self.register_buffer("target_offset", torch.zeros(num_outputs))
        self.register_buffer("target_scale", torch.ones(num_outputs))
        self.register_buffer("scaled", torch.tensor(False))

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.target_scaling == "standard" and not bool(self.scaled):
            self._measure_target()  # a resumed run loads the measured values afterwards

    def _measure_target(self) -> None:
        """Mean and standard deviation of the training targets, over all ranks' shards."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None:
            raise ConfigError(
                "model.target_scaling",
                "standard",
                "a datamodule passed to trainer.fit",
                "set model.target_scaling=none to train from bare dataloaders",
            )
        width = len(self.target_offset)
        sums = torch.zeros(3, width, dtype=torch.float64)  # count, sum, sum of squares
        for batch in datamodule.train_dataloader():
            y = batch["target"].double().reshape(-1, width)
            sums += torch.stack([torch.ones_like(y).sum(0), y.sum(0), y.square().sum(0)])
        device = self.trainer.strategy.root_device
        sums = self.trainer.strategy.reduce(sums.to(device), reduce_op="sum").cpu()
        count = sums[0].clamp(min=1)
        mean = sums[1] / count
        std = (sums[2] / count - mean.square()).clamp(min=0).sqrt()
        self.target_offset.copy_(mean.float())
        self.target_scale.copy_(torch.where(std > 0, std, torch.ones_like(std)).float())
        self.scaled.fill_(True)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        """Predictions in the target's units: (B, num_outputs)."""
        return self.net(**inputs) * self.target_scale + self.target_offset

    def _step(self, batch: Batch, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's loss and (detached) predictions, shaped like the target."""
        y = batch["target"].float()
        out = self.net(**inputs_of(batch)).float()  # (B, K), on the scaled target
        out = out.reshape(y.shape)  # (B,) for a one-number target
        offset, scale = self.target_offset, self.target_scale
        if y.ndim == 1:
            offset, scale = offset[0], scale[0]
        loss = self.loss(out, (y - offset) / scale)
        pred = out.detach() * scale + offset
        self.metrics.record(self, split, loss, (pred, y), len(y))
        return loss, pred

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> Batch:
        """Per-sample ``prediction`` and ``target`` for the task callbacks (residual plot)."""
        return {"prediction": self._step(batch, "test")[1], "target": batch["target"]}

    def predict_step(self, batch: Batch, batch_idx: int) -> Batch:
        """Per-sample columns ``target`` and ``prediction``; (B, K) each for K outputs (written
        as ``target_0..K-1``, ``prediction_0..K-1``). A file without targets has NaN."""
        y = batch["target"]
        pred = self(**inputs_of(batch)).float()
        return {"target": y, "prediction": pred.reshape(y.shape)}

    def configure_callbacks(self) -> list[Callback]:
        return attached_for_test(self, self.task_callbacks)

    def configure_optimizers(self) -> Any:
        return optimizer_and_schedule(self, self.optimizer_factory, self.scheduler)
