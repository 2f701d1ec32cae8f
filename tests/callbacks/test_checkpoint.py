"""Best and last checkpoints from one callback: last.ckpt is always the newest epoch, written
once (a hard link to the best file) on epochs that are the best."""

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from src.callbacks.checkpoint import ModelCheckpoint
from src.utils.checkpoint_io import BackgroundCheckpointIO


class Scripted(pl.LightningModule):
    """Logs a scripted ``val/score`` per epoch; ``inodes`` records the checkpoint files after
    each epoch's saves (callbacks listed after ModelCheckpoint run after it)."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores, self.layer = scores, torch.nn.Linear(2, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/score", self.scores[self.current_epoch])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(
    tmp_path: Path, scores: list[float], plugins: list[Any], ckpt_path: Path | None = None
) -> ModelCheckpoint:
    checkpoint = ModelCheckpoint(
        dirpath=tmp_path,
        filename="epoch_{epoch:03d}",
        auto_insert_metric_name=False,
        monitor="val/score",
        mode="max",
        save_top_k=1,
        save_last=True,
    )
    data = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4)
    trainer = pl.Trainer(
        max_epochs=len(scores),
        callbacks=[checkpoint],
        plugins=plugins,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Scripted(scores), train_dataloaders=data, val_dataloaders=data, ckpt_path=ckpt_path)
    return checkpoint


def _epoch(path: Path) -> int:
    return int(torch.load(path, weights_only=False)["epoch"])


@pytest.mark.parametrize(
    ("scores", "best"),
    [
        ([0.1, 0.5, 0.3, 0.6], 3),  # the last epoch is the best
        ([0.1, 0.6, 0.3], 1),  # the last epoch is not
    ],
)
def test_last_is_the_newest_epoch_and_shares_the_best_file_when_it_is_the_best(
    tmp_path: Path, scores: list[float], best: int
) -> None:
    checkpoint = _fit(tmp_path, scores, [BackgroundCheckpointIO()])
    last, best_file = tmp_path / "last.ckpt", tmp_path / f"epoch_{best:03d}.ckpt"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([best_file.name, "last.ckpt"])
    assert checkpoint.best_model_path == str(best_file)
    assert _epoch(last) == len(scores) - 1 and _epoch(best_file) == best
    # one file on disk when the newest epoch is the best, two otherwise
    shared = last.stat().st_ino == best_file.stat().st_ino
    assert shared == (best == len(scores) - 1)


def test_an_older_best_removed_leaves_last_intact(tmp_path: Path) -> None:
    # epoch 0 is the best (last.ckpt linked to it), epoch 1 not, epoch 2 is again: epoch_000
    # is deleted and last.ckpt, relinked, must still load
    _fit(tmp_path, [0.5, 0.4, 0.6], [BackgroundCheckpointIO()])
    assert not (tmp_path / "epoch_000.ckpt").exists()
    assert _epoch(tmp_path / "last.ckpt") == 2


@pytest.mark.parametrize("scores", [[0.1, 0.6], [0.1, 0.6, 0.3]])
def test_other_checkpoint_io_writes_last_in_full_every_epoch(
    tmp_path: Path, scores: list[float]
) -> None:
    _fit(tmp_path, scores, [])
    last, best_file = tmp_path / "last.ckpt", tmp_path / "epoch_001.ckpt"
    assert _epoch(last) == len(scores) - 1 and _epoch(best_file) == 1
    assert last.stat().st_ino != best_file.stat().st_ino


def test_a_checkpoint_names_its_files_relative_to_its_folder_and_resumes_after_a_move(
    tmp_path: Path,
) -> None:
    _fit(tmp_path / "run", [0.1, 0.6, 0.3], [BackgroundCheckpointIO()])
    state = next(
        v
        for k, v in torch.load(tmp_path / "run" / "last.ckpt", weights_only=False)[
            "callbacks"
        ].items()
        if k.startswith("ModelCheckpoint")
    )
    assert state["dirpath"] == "." and state["best_model_path"] == "epoch_001.ckpt"
    assert state["last_model_path"] in ("", "last.ckpt")
    assert list(state["best_k_models"]) == ["epoch_001.ckpt"]

    moved = tmp_path / "elsewhere"
    (tmp_path / "run").rename(moved)
    # resumed in its own (moved) folder, finished: Lightning restores the whole state there
    resumed = _fit(moved, [0.1, 0.6, 0.3], [BackgroundCheckpointIO()], moved / "last.ckpt")
    assert resumed.best_model_path == str(moved / "epoch_001.ckpt")
    assert list(resumed.best_k_models) == [str(moved / "epoch_001.ckpt")]
    assert resumed.best_model_score == pytest.approx(0.6)
