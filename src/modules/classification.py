"""Classification of images, signals, tabular rows and any named inputs (multiclass or binary)."""

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn
from torch.optim import Optimizer
from torchmetrics import Metric, MetricCollection

from src.errors import ConfigError
from src.metrics import Mean
from src.networks.init import initialize
from src.optim import SchedulerSpec
from src.utils.steps import is_logging_step

Batch = dict[str, torch.Tensor]


def split_metrics(
    metrics: Mapping[str, Metric], prefix: str, names: Sequence[str] | None = None
) -> MetricCollection:
    """Fresh copies of ``metrics`` (those in ``names``, default all), logged as ``<prefix><name>``.

    Metrics that keep the same state (accuracy, precision, recall and F1 share one confusion
    matrix, src.metrics) are updated once per batch through MetricCollection's compute groups.
    """
    names = list(metrics) if names is None else names
    return MetricCollection({n: metrics[n].clone() for n in names}, prefix=prefix)


def inputs_of(batch: Batch) -> Batch:
    """The named inputs of a batch: everything but its ``target``."""
    return {k: v for k, v in batch.items() if k != "target"}


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
    ) -> None:
        super().__init__()
        self.net, self.optimizer_factory, self.scheduler = net, optimizer, scheduler
        self.task, self.num_classes = task, num_classes
        self.loss = loss or (nn.BCEWithLogitsLoss() if task == "binary" else nn.CrossEntropyLoss())
        self.class_weighting, self.l1, self.l2 = class_weighting, l1, l2
        initialize(self.net, init)
        metrics = dict(metrics or {})
        if any(n not in metrics for n in train_metrics):
            raise ConfigError(
                "model.train_metrics",
                list(train_metrics),
                f"names of model.metrics {list(metrics)}",
            )
        self.train_metrics = split_metrics(metrics, "train/", list(train_metrics))
        self.val_metrics = split_metrics(metrics, "val/")
        self.test_metrics = split_metrics(metrics, "test/")
        self.train_loss, self.val_loss, self.test_loss = Mean(), Mean(), Mean()
        self.task_callbacks = list((callbacks or {}).values())

    def configure_callbacks(self) -> list[Callback]:
        # the plots read the test split only: attached for trainer.test, since every callback
        # costs a dispatch per hook and step in fit (~1.3 ms per digits epoch, bench/overhead.py)
        if self.trainer.state.fn != TrainerFn.TESTING:
            return []
        attached = self.trainer.callbacks  # type: ignore[attr-defined]
        return [cb for cb in self.task_callbacks if cb not in attached]

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

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        schedule = self.scheduler.build(optimizer, self.trainer) if self.scheduler else None
        if schedule is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": schedule}
