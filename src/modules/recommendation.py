"""Recommendation: score candidate items for a user (src/data/interactions.py's batches)."""

from collections.abc import Callable, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim import Optimizer
from torchmetrics import Metric

from src.errors import ConfigError
from src.modules.supervised import Batch, SplitMetrics, optimizer_and_schedule
from src.optim import SchedulerSpec

FEEDBACK = ("implicit", "explicit")


class RecommendationModule(pl.LightningModule):
    """Trains ``net`` to score a user's candidate items; logs ``<split>/loss`` and the metrics.

    Implicit feedback: logistic loss of each candidate's score against 1 (the interaction) or
    0 (a sampled negative). Explicit: squared error of the score against the observed rating.

    Args:
        net: ``user`` (B,) and ``item`` (B, C) indices -> scores (B, C); src/networks/ncf.py.
        optimizer: optimizer factory called with the parameters (``_partial_: true``).
        scheduler: learning-rate schedule; None for a constant lr.
        feedback: ``implicit`` or ``explicit``, as the data module serves its targets.
        metrics: name -> metric over (scores (B, C), target (B, C)) of the validation and test
            candidates (src/modules/ranking.py), logged as ``val/<name>``, ``test/<name>``.
        top_k: items per user that ``mode=predict`` writes, best first.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: SchedulerSpec | None = None,
        feedback: str = "implicit",
        metrics: Mapping[str, Metric] | None = None,
        top_k: int = 10,
    ) -> None:
        super().__init__()
        if feedback not in FEEDBACK:
            raise ConfigError("model.feedback", feedback, "one of " + ", ".join(FEEDBACK))
        self.net, self.optimizer_factory, self.scheduler = net, optimizer, scheduler
        self.feedback, self.top_k = feedback, top_k
        shown = next(iter(metrics)) if metrics else "loss"
        self.metrics = SplitMetrics(metrics, train_metrics=(), shown=shown)

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return self.net(user=user, item=item)

    def _loss(self, scores: torch.Tensor, batch: Batch) -> torch.Tensor:
        target = batch["target"]
        if self.feedback == "explicit":
            rated = target > 0
            return F.mse_loss(scores[rated], target[rated])
        keep = ~batch["exclude"]  # the user's other interactions are neither positive nor negative
        return F.binary_cross_entropy_with_logits(scores[keep], (target[keep] > 0).float())

    def ranked(self, batch: Batch) -> torch.Tensor:
        """Scores (B, C) with the excluded candidates at -inf."""
        scores = self(batch["user"], batch["item"]).float()
        return scores.masked_fill(batch["exclude"], float("-inf"))

    def _step(self, batch: Batch, split: str) -> torch.Tensor:
        scores = self(batch["user"], batch["item"])
        loss = self._loss(scores.float(), batch)
        ranked = scores.detach().float().masked_fill(batch["exclude"], float("-inf"))
        self.metrics.record(self, split, loss, (ranked, batch["target"]), len(batch["user"]))
        return loss

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> Batch:
        """Per user: its index, the ``held_out`` item of the split (-1: none), and the
        ``top_k`` best-scored ``item`` indices (B, K) with their ``score`` (B, K)."""
        scores = self.ranked(batch)
        best = scores.topk(min(self.top_k, scores.shape[1]), dim=1)
        target = batch["target"]
        held_out = batch["item"].gather(1, target.argmax(dim=1, keepdim=True)).squeeze(1)
        return {
            "user": batch["user"],
            "held_out": torch.where((target > 0).any(dim=1), held_out, -1),
            "item": batch["item"].gather(1, best.indices),
            "score": best.values,
        }

    def configure_optimizers(self) -> Any:
        return optimizer_and_schedule(self, self.optimizer_factory, self.scheduler)
