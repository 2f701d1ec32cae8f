"""Per-epoch metric history, independent of which loggers are configured."""

from typing import Any

import lightning.pytorch as pl


class MetricHistory(pl.Callback):
    """Keeps every epoch-level scalar that was logged, one dict per finished epoch.

    The rows feed the learning-curve plot and ``metrics.json``; keeping them in the callback's
    state means a resumed run still plots its earlier epochs.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def _record(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking:
            return
        row = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if v.numel() == 1 and not k.endswith("_step")
        }
        row = {k.removesuffix("_epoch"): v for k, v in row.items()}
        row["epoch"] = trainer.current_epoch
        if self.rows and self.rows[-1]["epoch"] == row["epoch"]:
            self.rows[-1].update(row)
        else:
            self.rows.append(row)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
