"""Background checkpoint writes: snapshots, order of writes and removals, errors, waiting."""

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.loggers import CSVLogger

from src.utils.checkpoint_io import (
    BackgroundCheckpointIO,
    UploadsWrittenCheckpoints,
    wait_for_writes,
)


class SlowIO(TorchCheckpointIO):
    """Writes after a delay, from whatever thread calls it; can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.threads = fail, set[str]()

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, options: Any = None) -> None:
        self.threads.add(threading.current_thread().name)
        time.sleep(0.2)
        if self.fail:
            raise OSError("disk full")
        super().save_checkpoint(checkpoint, path)


def test_writes_a_snapshot_off_the_training_thread(tmp_path: Path) -> None:
    inner = SlowIO()
    writer = BackgroundCheckpointIO(inner)
    weights = torch.zeros(3)
    writer.save_checkpoint({"w": weights}, tmp_path / "a.ckpt")
    weights += 1  # training goes on while the file is written
    assert not (tmp_path / "a.ckpt").exists()
    writer.teardown()
    assert torch.equal(torch.load(tmp_path / "a.ckpt")["w"], torch.zeros(3))
    assert threading.current_thread().name not in inner.threads


def test_a_removal_waits_for_pending_writes(tmp_path: Path) -> None:
    # ModelCheckpoint deletes the old best right after asking for the new one: the deletion
    # must not overtake the pending write of that same file
    writer = BackgroundCheckpointIO(SlowIO())
    writer.save_checkpoint({"w": torch.ones(1)}, tmp_path / "best.ckpt")
    writer.remove_checkpoint(tmp_path / "best.ckpt")
    writer.teardown()
    assert not (tmp_path / "best.ckpt").exists()


def test_wait_for_writes_returns_once_the_file_is_on_disk(tmp_path: Path) -> None:
    writer = BackgroundCheckpointIO(SlowIO())
    writer.save_checkpoint({"w": torch.ones(1)}, tmp_path / "last.ckpt")
    wait_for_writes()
    assert (tmp_path / "last.ckpt").exists()
    writer.teardown()


def test_a_failed_write_is_raised_on_the_training_thread(tmp_path: Path) -> None:
    writer = BackgroundCheckpointIO(SlowIO(fail=True))
    writer.save_checkpoint({"w": torch.ones(1)}, tmp_path / "last.ckpt")
    with pytest.raises(OSError, match="disk full"):
        writer.teardown()


class Uploader(UploadsWrittenCheckpoints, CSVLogger):
    """A logger that, like W&B's and MLflow's with log_model, reads each file once saved."""

    _log_model = "all"

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        super().after_save_checkpoint(checkpoint_callback)
        self.found = self.path.exists()


def test_loggers_uploading_checkpoints_see_them_written(tmp_path: Path) -> None:
    writer = BackgroundCheckpointIO(SlowIO())
    logger = Uploader(tmp_path)
    logger.path = tmp_path / "epoch_001.ckpt"
    writer.save_checkpoint({"w": torch.ones(1)}, logger.path)
    logger.after_save_checkpoint(None)
    assert logger.found
    writer.teardown()


def test_snapshot_copies_tensors_and_containers_and_keeps_types() -> None:
    from collections import OrderedDict, namedtuple

    from src.utils.checkpoint_io import snapshot

    Pair = namedtuple("Pair", "a b")
    state = OrderedDict(w=torch.zeros(2))
    state._metadata = {"": {"version": 1}}  # type: ignore[attr-defined]
    rows = [{"epoch": 0}]
    checkpoint = {"state_dict": state, "rows": rows, "pair": Pair(torch.ones(1), "x"), "n": 3}
    copy = snapshot(checkpoint)
    state["w"] += 1  # training goes on
    rows.append({"epoch": 1})
    assert torch.equal(copy["state_dict"]["w"], torch.zeros(2))
    assert copy["rows"] == [{"epoch": 0}]
    assert type(copy["state_dict"]) is OrderedDict
    assert copy["state_dict"]._metadata == {"": {"version": 1}}
    assert isinstance(copy["pair"], Pair) and copy["pair"].b == "x" and copy["n"] == 3


def test_a_link_waits_for_its_source_and_replaces_the_target_atomically(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    torch.save({"epoch": 0}, target)
    writer = BackgroundCheckpointIO(SlowIO())
    writer.save_checkpoint({"epoch": 1}, tmp_path / "best.ckpt")
    writer.link_checkpoint(tmp_path / "best.ckpt", target)
    assert torch.load(target)["epoch"] == 0  # the previous, complete file until then
    writer.teardown()
    assert torch.load(target)["epoch"] == 1
    assert target.stat().st_ino == (tmp_path / "best.ckpt").stat().st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]
