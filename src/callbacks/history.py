"""Per-epoch metric history, independent of which loggers are configured."""

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn


class MetricHistory(pl.Callback):
    """Keeps every epoch-level scalar that was logged, one dict per finished epoch.

    The rows feed the learning-curve plot and ``metrics.json``; keeping them in the callback's
    state means a resumed run still plots its earlier epochs.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def _record(self, trainer: pl.Trainer, epoch: int, prefix: str = "") -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        row = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if v.numel() == 1 and not k.endswith("_step") and k.startswith(prefix)
        }
        row = {k.removesuffix("_epoch"): v for k, v in row.items()}
        row["epoch"] = epoch
        if self.rows and self.rows[-1]["epoch"] == epoch:
            self.rows[-1].update(row)
        else:
            self.rows.append(row)

    # The module logs epoch metrics in its own epoch-end hooks, which Lightning calls after the
    # callbacks' hooks: an epoch's validation metrics are final at on_validation_end, its
    # training metrics at the next epoch's start (or at the end of training).
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer, trainer.current_epoch)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch > 0 and trainer.callback_metrics:
            self._record(trainer, trainer.current_epoch - 1, "train/")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer, trainer.current_epoch - 1, "train/")

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
