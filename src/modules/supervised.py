"""What every supervised task shares: one network, per-split metric nodes, one optimizer.

Classification and regression differ in the loss, the metrics' inputs and the prediction
columns; the bookkeeping around them (metric copies per split, the once-per-epoch logging,
test-only artefact callbacks, optimizer and schedule) is this base class.
"""

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


class SupervisedModule(pl.LightningModule):
    """One network trained on ``batch["target"]``; loss and metrics logged as ``<split>/<name>``.

    Subclasses compute the loss and what the metrics read, and call :meth:`record` once per
    batch.

    Args:
        net: maps the batch's named inputs (``net(x=...)`` for one input) to its output.
        optimizer: optimizer factory called with the parameters (``_partial_: true``).
        scheduler: learning-rate schedule; None or an empty spec for a constant lr.
        metrics: name -> metric, computed on the validation and test splits.
        train_metrics: names of ``metrics`` also computed on the training split, every step.
        init: weight initialisation scheme (see :func:`src.networks.init.initialize`).
        callbacks: the task's own callbacks (plots of the test split), attached for testing.
    """

    #: metric shown in the progress bar besides the loss (``<split>/<name>``)
    progress_metric = ""

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: SchedulerSpec | None,
        metrics: Mapping[str, Metric] | None,
        train_metrics: Sequence[str],
        init: str,
        callbacks: Mapping[str, Callback] | None,
    ) -> None:
        super().__init__()
        self.net, self.optimizer_factory, self.scheduler = net, optimizer, scheduler
        initialize(self.net, init)
        metrics = dict(metrics or {})
        if any(n not in metrics for n in train_metrics):
            expected = f"names of model.metrics {list(metrics)}"
            raise ConfigError("model.train_metrics", list(train_metrics), expected)
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

    def record(
        self, split: str, loss: torch.Tensor, metric_inputs: tuple[torch.Tensor, ...], size: int
    ) -> None:
        """Update ``split``'s loss mean and metrics with one batch, and log them.

        Metric objects are computed over all batches (synced across ranks) and reset by
        Lightning at the epoch's end, so handing them to ``self.log`` on the epoch's first batch
        is enough: each ``self.log`` call costs ~1 ms on the CPU (bench/overhead.py).
        """
        metrics: MetricCollection = getattr(self, f"{split}_metrics")
        metrics.update(*metric_inputs)
        mean_loss: Mean = getattr(self, f"{split}_loss")
        mean_loss.update(loss.detach(), size)
        log = partial(self.log, batch_size=size, sync_dist=True)
        if mean_loss.update_count == 1:
            loss_key = f"{split}/loss_epoch" if split == "train" else f"{split}/loss"
            log(loss_key, mean_loss, on_step=False, on_epoch=True, prog_bar=split != "train")
            shown = f"/{self.progress_metric}"
            for name, metric in metrics.items(keep_base=False, copy_state=False):
                log(name, metric, on_step=False, on_epoch=True, prog_bar=name.endswith(shown))
        if split == "train" and is_logging_step(self.trainer):
            log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        schedule = self.scheduler.build(optimizer, self.trainer) if self.scheduler else None
        if schedule is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": schedule}
