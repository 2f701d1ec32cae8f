"""What supervised tasks share, as parts a module composes: per-split metrics and the
once-per-epoch logging, test-only artefact callbacks, optimizer and schedule."""

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
from src.optim import SchedulerSpec, parameter_groups
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


class SplitMetrics(nn.Module):
    """The task's metrics and mean loss per split, logged as ``<split>/<name>``.

    Args:
        metrics: name -> metric, computed on the validation and test splits.
        train_metrics: names of ``metrics`` also computed on the training split, every step.
        shown: the metric shown in the progress bar besides the loss.
    """

    def __init__(
        self, metrics: Mapping[str, Metric] | None, train_metrics: Sequence[str], shown: str
    ) -> None:
        super().__init__()
        metrics = dict(metrics or {})
        if any(n not in metrics for n in train_metrics):
            expected = f"names of model.metrics {list(metrics)}"
            raise ConfigError("model.train_metrics", list(train_metrics), expected)
        self.train_metrics = split_metrics(metrics, "train/", list(train_metrics))
        self.val_metrics = split_metrics(metrics, "val/")
        self.test_metrics = split_metrics(metrics, "test/")
        self.train_loss, self.val_loss, self.test_loss = Mean(), Mean(), Mean()
        self.shown = f"/{shown}"

    def record(
        self,
        module: pl.LightningModule,
        split: str,
        loss: torch.Tensor,
        metric_inputs: tuple[torch.Tensor, ...],
        size: int,
    ) -> None:
        """Update ``split``'s loss mean and metrics with one batch, and log them through ``module``.

        Metric objects are computed over all batches (synced across ranks) and reset by
        Lightning at the epoch's end, so handing them to ``module.log`` on the epoch's first
        batch is enough: each ``log`` call costs ~1 ms on the CPU (bench/overhead.py).
        """
        metrics: MetricCollection = getattr(self, f"{split}_metrics")
        metrics.update(*metric_inputs)
        mean_loss: Mean = getattr(self, f"{split}_loss")
        mean_loss.update(loss.detach(), size)
        log = partial(module.log, batch_size=size, sync_dist=True)
        if mean_loss.update_count == 1:
            loss_key = f"{split}/loss_epoch" if split == "train" else f"{split}/loss"
            log(loss_key, mean_loss, on_step=False, on_epoch=True, prog_bar=split != "train")
            for name, metric in metrics.items(keep_base=False, copy_state=False):
                log(name, metric, on_step=False, on_epoch=True, prog_bar=name.endswith(self.shown))
        if split == "train" and is_logging_step(module.trainer):
            log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)


def attached_for_test(module: pl.LightningModule, callbacks: Sequence[Callback]) -> list[Callback]:
    """``callbacks`` for ``module.configure_callbacks``: attached for ``trainer.test`` only.

    Task artefacts (plots of the test split) need nothing else, and every callback costs a
    dispatch per hook and step in fit (~1.3 ms per digits epoch, bench/overhead.py).
    """
    trainer = module.trainer
    if trainer.state.fn != TrainerFn.TESTING:
        return []
    return [cb for cb in callbacks if cb not in trainer.callbacks]  # type: ignore[attr-defined]


def optimizer_and_schedule(
    module: pl.LightningModule,
    optimizer: Callable[..., Optimizer],
    scheduler: SchedulerSpec | None,
    lr_multipliers: Mapping[str, float] | None = None,
) -> Any:
    """``configure_optimizers``' answer for one optimizer over ``module``'s trainable parameters
    (frozen ones join later, e.g. through :class:`src.callbacks.finetuning.FreezeUnfreeze`).

    ``lr_multipliers``: glob pattern over parameter names -> factor on the learning rate
    (discriminative learning rates, :func:`src.optim.parameter_groups`).
    """
    if lr_multipliers:
        built = optimizer(parameter_groups(list(module.named_parameters()), lr_multipliers))
        for group in built.param_groups:
            group["lr"] *= group["lr_multiplier"]
    else:
        built = optimizer([p for p in module.parameters() if p.requires_grad])
    schedule = scheduler.build(built, module.trainer) if scheduler else None
    if schedule is None:
        return built
    return {"optimizer": built, "lr_scheduler": schedule}
