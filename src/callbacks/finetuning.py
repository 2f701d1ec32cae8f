"""Freeze part of a network for the first epochs of fine-tuning, then train it at a lower rate."""

import fnmatch
import logging
from collections.abc import Sequence

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.optim import Optimizer

from src.errors import ConfigError
from src.networks.transfer import trainable_count

log = logging.getLogger(__name__)


class FreezeUnfreeze(BaseFinetuning):
    """Lightning's BackboneFinetuning idea for any module: the modules named by ``modules`` are
    frozen before training; at epoch ``unfreeze_at_epoch`` they join the optimizer as a new
    parameter group at ``lr_factor`` times the first group's current learning rate.

    Resuming restores the added group (BaseFinetuning saves it in the checkpoint).

    Args:
        modules: glob patterns over the LightningModule's submodule names, e.g. ``net.features``
            (a LeNet's convolutions) or ``net.layer*`` (a ResNet's stages).
        unfreeze_at_epoch: first epoch (0-based) they train; a value >= max_epochs never does.
        lr_factor: their learning rate relative to the rest when they unfreeze.
        train_bn: batch-norm layers keep training while the rest is frozen.
    """

    def __init__(
        self,
        modules: Sequence[str],
        unfreeze_at_epoch: int = 1,
        lr_factor: float = 0.1,
        train_bn: bool = True,
    ) -> None:
        super().__init__()
        if unfreeze_at_epoch < 0:
            raise ConfigError(
                "callbacks.freeze.unfreeze_at_epoch", unfreeze_at_epoch, "an integer >= 0"
            )
        if not lr_factor > 0:
            raise ConfigError("callbacks.freeze.lr_factor", lr_factor, "a number > 0")
        self.patterns, self.unfreeze_at_epoch = list(modules), unfreeze_at_epoch
        self.lr_factor, self.train_bn = lr_factor, train_bn

    def chosen(self, pl_module: pl.LightningModule) -> list[nn.Module]:
        """The submodules matching ``modules`` (outermost match only)."""
        names = [n for n, _ in pl_module.named_modules() if n]
        matched = [n for n in names if any(fnmatch.fnmatch(n, p) for p in self.patterns)]
        outer = [n for n in matched if not any(n.startswith(f"{m}.") for m in matched)]
        if not outer:
            top = [n for n in names if n.count(".") <= 1]
            raise ConfigError(
                "callbacks.freeze.modules",
                self.patterns,
                "glob patterns over the module's submodule names",
                f"pick among names such as {top[:8]}",
            )
        return [pl_module.get_submodule(n) for n in outer]

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":  # eval and predict use every weight as it is
            super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        self.freeze(self.chosen(pl_module), train_bn=self.train_bn)
        log.info(
            "frozen until epoch %d; trainable: %s",
            self.unfreeze_at_epoch,
            trainable_count(pl_module),
        )

    def finetune_function(
        self, pl_module: pl.LightningModule, epoch: int, optimizer: Optimizer
    ) -> None:
        """From ``unfreeze_at_epoch`` on, every chosen parameter trains; those not yet in the
        optimizer (all of them, unless a resumed run restored the group) join it."""
        if epoch < self.unfreeze_at_epoch:
            return
        modules = self.chosen(pl_module)
        self.make_trainable(modules)
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        new = [p for m in modules for p in m.parameters() if id(p) not in known]
        if new:
            lr = optimizer.param_groups[0]["lr"] * self.lr_factor
            optimizer.add_param_group({"params": new, "lr": lr})
            log.info(
                "epoch %d: unfrozen at lr %.3g; trainable: %s",
                epoch,
                lr,
                trainable_count(pl_module),
            )
