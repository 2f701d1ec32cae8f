"""Callbacks that tests inject with ``+callbacks.<name>={_target_: tests.helpers.X, ...}``."""

import json
import os
import signal
from pathlib import Path

import lightning.pytorch as pl


class KillAt(pl.Callback):
    """SIGKILLs its own process in the middle of epoch ``epoch`` (after ``batch`` batches)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.current_epoch == self.epoch and trainer.fit_loop.batch_idx + 1 >= self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordStart(pl.Callback):
    """Writes where training starts (epoch, global step, optimizer step count) to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if Path(self.path).exists():
            return
        state = trainer.optimizers[0].state
        steps = [float(s["step"]) for s in state.values() if "step" in s]
        Path(self.path).write_text(
            json.dumps(
                {
                    "epoch": trainer.current_epoch,
                    "global_step": trainer.global_step,
                    "optimizer_step": max(steps, default=0.0),
                    "lr": trainer.optimizers[0].param_groups[0]["lr"],
                }
            )
        )
