"""Lightning's rich progress bar, reading the trainer's metrics only as often as it redraws."""

import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """``RichProgressBar`` that reads the trainer's metrics after a training batch at most
    ``refresh_rate`` times a second (Lightning's reads them after every batch, which costs a
    small model's step a noticeable share); epoch ends and validation always read them.

    Args:
        refresh_rate: redraws per second; 0 hides the bar.
        leave: keep each epoch's bar on screen.
        **kwargs: passed on to ``RichProgressBar`` (``theme``, ``console_kwargs``).
    """

    def __init__(self, refresh_rate: int = 10, leave: bool = False, **kwargs: Any) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave, **kwargs)
        self._next_read = 0.0

    def _update_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._next_read = time.monotonic() + 1 / max(self.refresh_rate, 1e-9)
        super()._update_metrics(trainer, pl_module)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # a missing bar id means a mid-epoch restart: Lightning's hook sets the bar up
        if time.monotonic() >= self._next_read or self.train_progress_bar_id is None:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        self._update(self.train_progress_bar_id, batch_idx + 1)  # the count, not the metrics
        self.refresh()
