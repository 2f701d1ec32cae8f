"""A fit resumed from a checkpoint draws the random numbers an uninterrupted fit draws.

The SIGKILL version with the real config and metrics.json is in tests/test_resume.py.
"""

import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from src.callbacks.rng import RNGState, rng_states, set_rng_states

STEPS_PER_EPOCH = 2


class Drawing(pl.LightningModule):
    """Records what each training step draws from torch's, numpy's and Python's generators."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.draws: list[tuple[float, float, float]] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.draws.append((torch.rand(1).item(), float(np.random.rand()), random.random()))
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/loss", self.layer(batch[0]).pow(2).mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _data() -> DataLoader:
    return DataLoader(TensorDataset(torch.ones(2 * STEPS_PER_EPOCH, 2)), batch_size=2)


def _fit(
    tmp_path: Path, max_epochs: int, callbacks: list[pl.Callback], ckpt_path: Path | None = None
) -> list[tuple[float, float, float]]:
    """Seeds as a run does (src.experiments.train), fits, returns the draws of this fit."""
    pl.seed_everything(0)
    module = Drawing()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        callbacks=[*callbacks, checkpoint],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, _data(), _data(), ckpt_path=ckpt_path)
    return module.draws


def test_states_round_trip_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    torch.save(rng_states(), tmp_path / "states.pt")
    before = torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)]
    set_rng_states(torch.load(tmp_path / "states.pt", weights_only=True))
    after = torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)]
    assert torch.equal(before[0], after[0])
    assert np.array_equal(before[1], after[1])
    assert before[2] == after[2]


def test_resumed_fit_draws_what_the_uninterrupted_fit_draws(tmp_path: Path) -> None:
    whole = _fit(tmp_path / "whole", 4, [RNGState()])
    _fit(tmp_path / "stopped", 2, [RNGState()])
    resumed = _fit(tmp_path / "resumed", 4, [RNGState()], tmp_path / "stopped" / "last.ckpt")
    assert resumed == whole[2 * STEPS_PER_EPOCH :]


def test_without_the_states_a_resumed_fit_repeats_the_first_epochs_draws(tmp_path: Path) -> None:
    # what happened before RNGState: seed_everything rewinds the generators on every start
    whole = _fit(tmp_path / "whole", 4, [])
    _fit(tmp_path / "stopped", 2, [])
    with pytest.warns(UserWarning, match="no random number generator states"):
        resumed = _fit(tmp_path / "resumed", 4, [RNGState()], tmp_path / "stopped" / "last.ckpt")
    assert resumed == whole[: 2 * STEPS_PER_EPOCH] != whole[2 * STEPS_PER_EPOCH :]


def test_validating_a_checkpoint_leaves_the_generators_alone(tmp_path: Path) -> None:
    _fit(tmp_path, 1, [RNGState()])
    draws = []
    for callbacks in ([], [RNGState()]):
        trainer = pl.Trainer(
            callbacks=callbacks,
            enable_checkpointing=False,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        torch.manual_seed(123)
        trainer.validate(Drawing(), _data(), ckpt_path=tmp_path / "last.ckpt", verbose=False)
        draws.append(torch.rand(3))
    assert torch.equal(*draws)


def test_states_loaded_to_validate_do_not_reach_a_later_fit(tmp_path: Path) -> None:
    _fit(tmp_path / "first", 1, [RNGState()])
    callback = RNGState()
    trainer = pl.Trainer(
        callbacks=[callback], enable_checkpointing=False, logger=False, enable_progress_bar=False
    )
    trainer.validate(Drawing(), _data(), ckpt_path=tmp_path / "first" / "last.ckpt")
    assert _fit(tmp_path / "again", 1, [callback]) == _fit(tmp_path / "fresh", 1, [])
