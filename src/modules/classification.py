"""Classification of images, signals and tabular rows (multiclass or binary)."""

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.optim import Optimizer
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import AUROC

from src.errors import ConfigError
from src.metrics import Accuracy, F1Score, Mean, Precision, Recall
from src.networks.init import initialize
from src.optim import SchedulerSpec
from src.utils.steps import is_logging_step


def _auroc(task: str, num_classes: int) -> Metric:
    # inputs are softmax/sigmoid outputs and dataset labels, valid by construction: skipping
    # torchmetrics' per-update checks saves a fifth of the update time
    if task == "multiclass":
        return AUROC("multiclass", num_classes=num_classes, average="macro", validate_args=False)
    return AUROC("binary", validate_args=False)


# name -> metric factory (task, num_classes); acc, precision, recall and f1 share one
# confusion matrix per split (src.metrics); all but acc are macro averages when multiclass
METRICS: dict[str, Callable[[str, int], Metric]] = {
    "acc": Accuracy,
    "precision": Precision,
    "recall": Recall,
    "f1": F1Score,
    "auroc": _auroc,
}
ALL_METRICS = tuple(METRICS)


def classification_metrics(
    task: str, num_classes: int, prefix: str, names: Sequence[str] = ALL_METRICS
) -> MetricCollection:
    """The metrics ``names`` (keys of :data:`METRICS`) for ``task``, named ``<prefix><name>``."""
    return MetricCollection({n: METRICS[n](task, num_classes) for n in names}, prefix=prefix)


def _metric_names(key: str, names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in METRICS]
    if unknown or isinstance(names, str):
        raise ConfigError(
            key, names if isinstance(names, str) else list(names), f"a list of {list(METRICS)}"
        )
    return list(names)


class ClassificationModule(pl.LightningModule):
    """Trains ``net`` to classify; logs loss and metrics per split as ``<split>/<name>``.

    Args:
        net: maps (B, *input_shape) to logits (B, num_classes), or (B, 1) when binary.
        optimizer: optimizer factory called with the parameters (``_partial_: true``).
        scheduler: learning-rate schedule; None or an empty spec for a constant lr.
        task: ``multiclass`` or ``binary``.
        num_classes: number of classes.
        loss: loss module; None picks CrossEntropyLoss / BCEWithLogitsLoss by task.
            MSELoss regresses the one-hot target (or the 0/1 label when binary).
        class_weighting: ``balanced`` weights the loss by inverse train-class frequency.
        l1: weight of the L1 penalty on weights (biases and norm layers excluded).
        l2: weight of the L2 penalty on weights.
        init: weight initialisation scheme (see :func:`src.networks.init.initialize`).
        metrics: names of :data:`METRICS` computed on the validation and test splits.
        train_metrics: names computed on the training split, every step; the default is
            accuracy alone, since each one costs time on every batch (and AUROC keeps every
            prediction of the epoch in memory).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: SchedulerSpec | None = None,
        task: str = "multiclass",
        num_classes: int = 2,
        loss: nn.Module | None = None,
        class_weighting: str = "none",
        l1: float = 0.0,
        l2: float = 0.0,
        init: str = "default",
        metrics: Sequence[str] = ALL_METRICS,
        train_metrics: Sequence[str] = ("acc",),
    ) -> None:
        super().__init__()
        self.net, self.optimizer_factory, self.scheduler = net, optimizer, scheduler
        self.task, self.num_classes = task, num_classes
        self.loss = loss or (nn.BCEWithLogitsLoss() if task == "binary" else nn.CrossEntropyLoss())
        self.class_weighting, self.l1, self.l2 = class_weighting, l1, l2
        initialize(self.net, init)
        names = _metric_names("model.metrics", metrics)
        train_names = _metric_names("model.train_metrics", train_metrics)
        self.train_metrics = classification_metrics(task, num_classes, "train/", train_names)
        self.val_metrics = classification_metrics(task, num_classes, "val/", names)
        self.test_metrics = classification_metrics(task, num_classes, "test/", names)
        self.train_loss, self.val_loss, self.test_loss = Mean(), Mean(), Mean()
        self.test_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) class probabilities, or (B,) P(class 1) when binary."""
        return torch.sigmoid(logits.squeeze(-1)) if self.task == "binary" else logits.softmax(-1)

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

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self._loss(logits, y)
        probs = self.probabilities(logits.detach().float())
        metrics: MetricCollection = getattr(self, f"{split}_metrics")
        metrics.update(probs, y)
        mean_loss: Mean = getattr(self, f"{split}_loss")
        mean_loss.update(loss.detach(), len(y))
        log = partial(self.log, batch_size=len(y), sync_dist=True)
        if mean_loss.update_count == 1:
            # Metric objects are computed over all batches (synced across ranks) and reset by
            # Lightning at the epoch's end, so handing them over on the epoch's first batch is
            # enough: each self.log call costs ~1 ms on the CPU (bench/overhead.py). The
            # progress bar shows loss and accuracy only.
            loss_key = f"{split}/loss_epoch" if split == "train" else f"{split}/loss"
            log(loss_key, mean_loss, on_step=False, on_epoch=True, prog_bar=split != "train")
            for name, metric in metrics.items(keep_base=False, copy_state=False):
                log(name, metric, on_step=False, on_epoch=True, prog_bar=name.endswith("/acc"))
        if split == "train" and is_logging_step(self.trainer):
            log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        if split == "test":
            self.test_outputs.append((probs.cpu(), y.cpu()))
        return loss

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        return self._step(batch, "train") + self._penalty()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def on_test_epoch_start(self) -> None:
        self.test_outputs.clear()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"probs": self.probabilities(self(x).float()), "target": y}

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        schedule = self.scheduler.build(optimizer, self.trainer) if self.scheduler else None
        if schedule is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": schedule}
