"""Checkpoints written by a background thread while training goes on."""

import copy
import os
import shutil
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.io import AsyncCheckpointIO

_WRITERS: "weakref.WeakSet[BackgroundCheckpointIO]" = weakref.WeakSet()


class BackgroundCheckpointIO(AsyncCheckpointIO):
    """Lightning's ``AsyncCheckpointIO``, with removals and links queued behind the writes.

    The training thread takes a point-in-time :func:`snapshot` of the checkpoint (tensors
    copied) and goes on; one background thread serialises and writes it, atomically (Lightning
    writes through an fsspec transaction, so a killed run never leaves a truncated
    ``last.ckpt``). ModelCheckpoint
    deletes the previous best file right after asking for the new one: that deletion runs on
    the same thread, after every pending write, so it cannot overtake a write of that file;
    so does :meth:`link_checkpoint` (``last.ckpt`` of an epoch just saved as the best).
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

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any = None
    ) -> None:
        assert self.checkpoint_io is not None
        write = self.checkpoint_io.save_checkpoint
        self._submit(write, snapshot(checkpoint), path, storage_options)

    def remove_checkpoint(self, path: _PATH) -> None:
        assert self.checkpoint_io is not None
        self._submit(self.checkpoint_io.remove_checkpoint, path)

    def link_checkpoint(self, source: _PATH, target: _PATH) -> None:
        """Make ``target`` the same checkpoint as ``source`` once ``source`` is written: a hard
        link (a copy where links are not possible) put in place atomically, so ``target``
        stays the previous, complete file until then."""
        self._submit(_link, source, target)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._ensure_setup()
        assert self._executor is not None
        self._last = self._executor.submit(self._run, fn, *args)
        if self._error:  # raised by an earlier task
            raise self._error

    def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as ex:  # raised on the training thread, at its next call
            self._error = ex

    def wait(self) -> None:
        """Block until every write, removal and link asked for so far is done."""
        if self._last is not None:
            self._last.result()
        if self._error:
            raise self._error


def snapshot(obj: Any) -> Any:
    """A point-in-time copy of a checkpoint: tensors cloned, dicts/lists/tuples rebuilt (of the
    same types, attributes such as a state dict's ``_metadata`` kept), anything else shared.
    Lightning's generic collection walk does the same ~3x slower (bench/overhead.py)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        out = copy.copy(obj)
        for key, value in out.items():
            out[key] = snapshot(value)
        return out
    if isinstance(obj, list):
        return [snapshot(v) for v in obj]
    if isinstance(obj, tuple):
        items = [snapshot(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    return obj


def _link(source: _PATH, target: _PATH) -> None:
    source, target = os.fspath(source), os.fspath(target)
    fs = get_filesystem(target)
    if not (isinstance(fs, LocalFileSystem) and os.path.isfile(source)):
        fs.copy(source, target, recursive=True)  # remote storage, or a sharded (directory) one
        return
    temporary = f"{target}.{uuid.uuid4().hex}.tmp"
    try:
        os.link(source, temporary)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


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
