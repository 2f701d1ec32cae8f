"""Best and last checkpoints from one callback, each epoch's state serialised once."""

from pathlib import Path
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
        self._loaded_from: Path | None = None  # the folder of the checkpoint being restored

    # ---- paths in the saved state: relative to the checkpoint's folder (a moved run resumes) --
    def state_dict(self) -> dict[str, Any]:
        """Lightning's state, with ``dirpath`` as ``.`` and the files in it by name: a
        checkpoint names no absolute path, and one copied elsewhere still names its own files."""
        state = super().state_dict()
        if self.dirpath is None:
            return state
        root = Path(self.dirpath)
        state = {k: _relative(v, root) if k in _PATH_KEYS else v for k, v in state.items()}
        state["best_k_models"] = {_relative(k, root): v for k, v in state["best_k_models"].items()}
        state["dirpath"] = "."
        return state

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Lightning restores callbacks' states right after this hook, from this file
        path = trainer.ckpt_path
        self._loaded_from = Path(path).resolve().parent if path and Path(path).is_file() else None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Relative paths (see :meth:`state_dict`) resolved against the folder the checkpoint
        was loaded from; absolute ones (older checkpoints) kept."""
        base = self._loaded_from
        if base is not None and state_dict.get("dirpath") == ".":
            state_dict = {
                k: str(base / v) if k in _PATH_KEYS and v else v for k, v in state_dict.items()
            }
            models = state_dict.get("best_k_models") or {}
            state_dict["best_k_models"] = {str(base / k): v for k, v in models.items()}
            state_dict["dirpath"] = str(base)
        super().load_state_dict(state_dict)

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


# ModelCheckpoint's state entries that hold a file in its dirpath
_PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")


def _relative(path: str, root: Path) -> str:
    """``path`` relative to ``root`` when it lies inside it, else unchanged."""
    if (
        not path
        or not Path(path).is_absolute()
        or root.resolve() not in Path(path).resolve().parents
    ):
        return path
    return Path(path).resolve().relative_to(root.resolve()).as_posix()
