"""Checkpoints written by a background thread while training goes on."""

import weakref
from concurrent.futures import Future
from typing import Any

from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.io import AsyncCheckpointIO

_WRITERS: "weakref.WeakSet[BackgroundCheckpointIO]" = weakref.WeakSet()


class BackgroundCheckpointIO(AsyncCheckpointIO):
    """Lightning's ``AsyncCheckpointIO``, with removals queued behind the writes.

    The training thread copies the checkpoint's tensors (a point-in-time snapshot) and goes on;
    one background thread serialises and writes it, atomically (Lightning writes through an
    fsspec transaction, so a killed run never leaves a truncated ``last.ckpt``). ModelCheckpoint
    deletes the previous best file right after asking for the new one: that deletion runs on
    the same thread, after every pending write, so it cannot overtake a write of that file.
    Pending writes finish when the trainer tears down (end of fit/test, or an error), before
    ``ckpt_path="best"`` is loaded; an error in the thread is raised on the next save or then.
    """

    def __init__(self, checkpoint_io: Any = None) -> None:
        super().__init__(checkpoint_io)
        self._last: Future[None] | None = None

    def _ensure_setup(self) -> None:
        super()._ensure_setup()
        _WRITERS.add(self)  # writing: wait_for_writes waits for this one until its teardown

    def teardown(self) -> None:
        _WRITERS.discard(self)
        super().teardown()

    def save_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        super().save_checkpoint(*args, **kwargs)
        self._last = self._latest_future()

    def remove_checkpoint(self, path: _PATH) -> None:
        self._ensure_setup()
        assert self._executor is not None
        self._last = self._executor.submit(self._remove, path)

    def _remove(self, path: _PATH) -> None:
        try:
            super().remove_checkpoint(path)
        except BaseException as ex:  # raised on the training thread, like a failed write
            self._error = ex

    def _latest_future(self) -> "Future[None] | None":
        # AsyncCheckpointIO does not keep the future it submits: queue an empty task behind it
        return self._executor.submit(lambda: None) if self._executor is not None else None

    def wait(self) -> None:
        """Block until every write and removal asked for so far is done."""
        if self._last is not None:
            self._last.result()
        if self._error:
            raise self._error


def wait_for_writes() -> None:
    """Block until every background checkpoint write in this process is on disk (for loggers
    that upload a checkpoint file as soon as it is saved)."""
    for writer in list(_WRITERS):
        writer.wait()


class UploadsWrittenCheckpoints(Logger):
    """Logger mixin (list it before Lightning's logger class): with ``log_model`` on, Lightning
    loggers read a checkpoint file as soon as it is saved, so wait until it is written."""

    _log_model: Any

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if self._log_model:
            wait_for_writes()
        super().after_save_checkpoint(checkpoint_callback)
