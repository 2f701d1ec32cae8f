"""Classification of images, signals, tabular rows and any named inputs (multiclass or binary)."""

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
from src.networks.transfer import Transfer
from src.optim import SchedulerSpec


class ClassificationModule(pl.LightningModule):
    """Trains ``net`` to classify; logs loss and metrics per split as ``<split>/<name>``.

    Args:
        net: maps the batch's named inputs (``net(x=...)`` for one input) to logits
            (B, num_classes), or (B, 1) when binary.
        optimizer: optimizer factory called with the parameters (``_partial_: true``).
        scheduler: learning-rate schedule; None or an empty spec for a constant lr.
        task: ``multiclass`` or ``binary``.
        num_classes: number of classes.
        metrics: name -> metric over (probabilities, labels), computed on the validation and
            test splits, logged as ``val/<name>`` and ``test/<name>``.
        train_metrics: names of ``metrics`` also computed on the training split, every step;
            the default is accuracy alone, since each costs time on every batch.
        loss: loss module; None picks CrossEntropyLoss / BCEWithLogitsLoss by task.
            MSELoss regresses the one-hot target (or the 0/1 label when binary).
        class_weighting: ``balanced`` weights the loss by inverse train-class frequency.
        l1: weight of the L1 penalty on weights (biases and norm layers excluded).
        l2: weight of the L2 penalty on weights.
        init: weight initialisation scheme (see :func:`src.networks.init.initialize`).
        callbacks: the task's own callbacks (plots of the test split), added to the trainer's.
        transfer: weights ``net`` starts from, adapters and per-group learning rates
            (:class:`src.networks.transfer.Transfer`); None: a fresh network.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: SchedulerSpec | None = None,
        task: str = "multiclass",
        num_classes: int = 2,
        metrics: Mapping[str, Metric] | None = None,
        train_metrics: Sequence[str] = ("acc",),
        loss: nn.Module | None = None,
        class_weighting: str = "none",
        l1: float = 0.0,
        l2: float = 0.0,
        init: str = "default",
        callbacks: Mapping[str, Callback] | None = None,
        transfer: Transfer | None = None,
    ) -> None:
        super().__init__()
        self.lr_multipliers = transfer.lr_multipliers if transfer else None
        self.net, self.optimizer_factory, self.scheduler = net, optimizer, scheduler
        initialize(self.net, init)
        if transfer is not None:
            transfer.apply(self.net)
        self.metrics = SplitMetrics(metrics, train_metrics, shown="acc")
        self.task_callbacks = list((callbacks or {}).values())
        self.task, self.num_classes = task, num_classes
        self.loss = loss or (nn.BCEWithLogitsLoss() if task == "binary" else nn.CrossEntropyLoss())
        self.class_weighting, self.l1, self.l2 = class_weighting, l1, l2
        if class_weighting == "balanced":
            # the weights become part of the loss's state: a checkpoint holds them, so a model
            # loaded for eval or predict is built with a placeholder of the same shape
            self._set_class_weights(torch.ones(num_classes))

    def setup(self, stage: str) -> None:
        if self.class_weighting == "balanced" and stage == "fit":
            counts = self.trainer.datamodule.class_counts.float()  # type: ignore[attr-defined]
            self._set_class_weights(counts.sum() / (len(counts) * counts.clamp(min=1)))

    def _set_class_weights(self, weights: torch.Tensor) -> None:
        if isinstance(self.loss, nn.CrossEntropyLoss):
            self.loss.weight = weights.to(self.device)
        elif isinstance(self.loss, nn.BCEWithLogitsLoss):
            self.loss.pos_weight = (weights[1] / weights[0]).to(self.device)
        else:
            raise ConfigError(
                "model.class_weighting",
                "balanced",
                "a loss that takes class weights (CrossEntropyLoss, BCEWithLogitsLoss)",
                f"set model.class_weighting=none for {type(self.loss).__name__}",
            )

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.net(**inputs)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) class probabilities, or (B,) P(class 1) when binary."""
        return torch.sigmoid(logits.squeeze(-1)) if self.task == "binary" else logits.softmax(-1)

    @property
    def class_names(self) -> list[str]:
        """The data's class names (saved in the checkpoint with the datamodule's state)."""
        try:
            names = getattr(self.trainer.datamodule, "class_names", None)  # type: ignore[attr-defined]
        except RuntimeError:  # not attached to a trainer
            names = None
        return list(names) if names else [str(i) for i in range(self.num_classes)]

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "binary":
            return self.loss(logits.squeeze(-1), y.float())
        if isinstance(self.loss, nn.MSELoss | nn.BCEWithLogitsLoss):
            return self.loss(logits, nn.functional.one_hot(y, self.num_classes).float())
        return self.loss(logits, y)

    def _penalty(self) -> torch.Tensor | float:
        if not (self.l1 or self.l2):
            return 0.0
        weights = [p for p in self.net.parameters() if p.ndim > 1]
        l1 = sum(p.abs().sum() for p in weights) if self.l1 else 0.0
        l2 = sum(p.pow(2).sum() for p in weights) if self.l2 else 0.0
        return self.l1 * l1 + self.l2 * l2

    def _step(self, batch: Batch, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's loss and (detached) class probabilities; updates and logs the metrics."""
        y = batch["target"]
        logits = self(**inputs_of(batch))
        loss = self._loss(logits, y)
        probs = self.probabilities(logits.detach().float())
        self.metrics.record(self, split, loss, (probs, y), len(y))
        return loss, probs

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0] + self._penalty()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> Batch:
        """Per-sample ``probs`` and ``target`` for the task callbacks (confusion matrix, ROC)."""
        return {"probs": self._step(batch, "test")[1], "target": batch["target"]}

    def predict_step(self, batch: Batch, batch_idx: int) -> Batch:
        """Per-sample columns: ``target``, ``prediction`` and ``prob_<class>`` (binary: class 1)."""
        probs = self.probabilities(self(**inputs_of(batch)).float())
        names = self.class_names
        if self.task == "binary":
            columns = {f"prob_{names[-1]}": probs}
            pred = (probs > 0.5).long()
        else:
            columns = {f"prob_{name}": probs[:, i] for i, name in enumerate(names)}
            pred = probs.argmax(-1)
        return {"target": batch["target"], "prediction": pred, **columns}

    def configure_callbacks(self) -> list[Callback]:
        return attached_for_test(self, self.task_callbacks)

    def configure_optimizers(self) -> Any:
        return optimizer_and_schedule(
            self, self.optimizer_factory, self.scheduler, self.lr_multipliers
        )
