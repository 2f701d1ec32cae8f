"""The global random number generators' states, saved in every checkpoint and restored on resume.

A run seeds its generators once, at its start (``pl.seed_everything`` in
:func:`src.experiments.train.train`); a run resumed from a checkpoint is seeded the same way and
would, without this callback, draw the dropout masks and augmentations of epoch 0 again in the
epoch it resumes at. Shuffling needs nothing here: :class:`~src.data.loader.TensorLoader` seeds
its own generator with ``seed`` + epoch. ``tests/test_resume.py`` kills a run with SIGKILL, resumes
it and checks that its metrics equal an uninterrupted run's bit for bit.
"""

import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn


def rng_states() -> dict[str, Any]:
    """The states of torch's CPU and current CUDA device's, numpy's and Python's generators.

    Only tensors and plain Python values, so that checkpoints load with ``weights_only=True``.
    The CUDA state is left out while CUDA is not initialised (nothing drew from it yet).
    """
    numpy_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {**numpy_state, "state": {**numpy_state["state"]}},
        "python": random.getstate(),
    }
    states["numpy"]["state"]["key"] = numpy_state["state"]["key"].tolist()
    if torch.cuda.is_initialized():
        # the device this process trains on (Lightning sets it, one per rank under DDP)
        states["torch_cuda"] = torch.cuda.get_rng_state()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restores the generators from :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    numpy_state = states["numpy"]
    key = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state({**numpy_state, "state": {**numpy_state["state"], "key": key}})
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "torch_cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["torch_cuda"])


class RNGState(pl.Callback):
    """Saves the generators' states in each checkpoint; a fit resumed from one continues them.

    The states are taken when a checkpoint is written (``last.ckpt``: after the epoch's
    validation) and set again when the resumed fit starts (after ``seed_everything`` and the
    checkpoint's loading, before the fit loop creates its first data iterator), so the resumed
    epochs draw what the uninterrupted run drew after that checkpoint. Checkpoints loaded to
    validate, test or predict leave the generators alone.

    Under DDP the checkpoint holds the states of rank 0 and every rank gets them: every rank is
    seeded with the same ``seed`` and draws the same amount per step, so their states agree.
    """

    def __init__(self) -> None:
        self._resume_states: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        # Lightning calls this while it builds the checkpoint, i.e. at the moment it is taken
        return rng_states()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume_states = state_dict

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn == TrainerFn.FITTING and self.state_key not in checkpoint.get(
            "callbacks", {}
        ):
            rank_zero_warn(
                "The checkpoint holds no random number generator states (it was written without"
                " the RNGState callback): the resumed run draws other dropout masks and"
                " augmentations than an uninterrupted run would."
            )

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after the checkpoint is loaded and the model is on its device, before the fit loop
        # creates the first epoch's data iterator (a torch DataLoader draws its base seed then;
        # in an uninterrupted run, after the checkpoint of the epoch before)
        if self._resume_states is not None:
            set_rng_states(self._resume_states)
            self._resume_states = None

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # states loaded with a checkpoint to validate or test must not reach a later fit
        self._resume_states = None
