"""Best and last checkpoints from one callback, each epoch's state serialised once."""

from typing import Any
from weakref import proxy

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint as LightningModelCheckpoint

from src.utils.checkpoint_io import BackgroundCheckpointIO


class ModelCheckpoint(LightningModelCheckpoint):
    """Lightning's ModelCheckpoint, where ``save_last=True`` writes ``last.ckpt`` after every
    epoch (every validation), and a state just saved as a top-k file is not serialised again.

    Lightning (2.6) writes ``last.ckpt`` only when a top-k file was saved in the same step, so
    on epochs that do not improve the monitored metric it would keep an older state, and
    ``resume=latest`` would go back in time; here it is written every time. On an epoch that
    does improve, Lightning would copy and write the same state twice (the best file, then
    ``last.ckpt``); here the background checkpoint writer
    (:class:`~src.utils.checkpoint_io.BackgroundCheckpointIO`, the default ``trainer.plugins``)
    hard-links ``last.ckpt`` to the best file once that file is on disk, replacing the old
    ``last.ckpt`` atomically. ``last.ckpt`` is therefore always the newest epoch's state and a
    complete file; removing an older best later leaves it intact. (Lightning's own
    ``save_last="link"`` makes a symlink, before the linked file is written, and keeps pointing
    at the newest top-k file on epochs that are not one.) With another checkpoint IO,
    ``last.ckpt`` is written in full every time; ``save_last="link"`` is Lightning's own.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fresh: tuple[str, int] | None = None  # (top-k file, global step) just saved
        self._link_source: str | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_not_saved(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_not_saved(trainer)

    def _save_last_if_not_saved(self, trainer: pl.Trainer) -> None:
        # skipped when this step was saved already (a top-k file and last.ckpt), in sanity
        # checks, fast_dev_run and outside fit, as Lightning skips its saves
        if self.save_last is True and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        if self._link_source is None:
            super()._save_checkpoint(trainer, filepath)
            self._fresh = (filepath, trainer.global_step)
            return
        if trainer.is_global_zero:
            io = trainer.strategy.checkpoint_io
            assert isinstance(io, BackgroundCheckpointIO)
            io.link_checkpoint(self._link_source, filepath)
        trainer.strategy.barrier("ModelCheckpoint.link")
        # the bookkeeping of Lightning's _save_checkpoint
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def _save_last_checkpoint(self, trainer: pl.Trainer, monitor_candidates: Any) -> None:
        fresh, self._fresh = self._fresh, None
        if (
            fresh is not None
            and fresh[1] == trainer.global_step
            and self.save_last is True
            and isinstance(trainer.strategy.checkpoint_io, BackgroundCheckpointIO)
        ):
            self._link_source = fresh[0]
        try:
            super()._save_last_checkpoint(trainer, monitor_candidates)
        finally:
            self._link_source = self._fresh = None
