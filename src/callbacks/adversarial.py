"""Adversarial training: every training batch is replaced by its PGD (or FGSM with random
start) version before the module's ``training_step`` sees it (Madry et al., 2018; Wong et
al., 2020). Any classifier whose batches carry a floating-point input can use it:
``python run.py callbacks=adversarial callbacks.adversarial_training.epsilon=2``."""

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch

from src.errors import ConfigError
from src.robustness.attacks import Attack, perturb
from src.robustness.inputs import input_box, raw_forward, to_normalised, to_raw

KINDS = ("pgd", "fgsm_rs")


class AdversarialTraining(pl.Callback):
    """Trains on adversarial inputs with budget ``epsilon`` in input units (before normalisation).

    Args:
        epsilon: L-infinity budget, in the input's raw units (digits: 0..16).
        attack: ``pgd`` (``steps`` steps from a random start) or ``fgsm_rs`` (one step of
            1.25 epsilon from a random start: FGSM-RS, Wong et al., 2020, ~steps times cheaper).
        steps: PGD steps.
        step_size: PGD step; None: 2.5 * epsilon / steps.
        input: the batch's input to perturb.
        input_range: [low, high] of valid raw values; None: the training split's min and max.
    """

    def __init__(
        self,
        epsilon: float,
        attack: str = "pgd",
        steps: int = 7,
        step_size: float | None = None,
        input: str = "x",
        input_range: Sequence[float] | None = None,
    ) -> None:
        key = "callbacks.adversarial_training"
        if attack not in KINDS:
            raise ConfigError(f"{key}.attack", attack, "one of " + ", ".join(KINDS))
        if attack == "pgd":
            self.attack = Attack(epsilon, steps, step_size, random_start=True, key=key)
        else:
            self.attack = Attack(epsilon, 1, 1.25 * epsilon, random_start=True, key=key)
        self.input, self.input_range, self.key = input, input_range, key
        self.box = (0.0, 0.0)
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule  # type: ignore[attr-defined]
        self.box = input_box(datamodule, self.input, self.input_range, f"{self.key}.input_range")
        self.stats = dict(getattr(datamodule, "stats", {}))

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        x = batch[self.input]
        if not x.is_floating_point():
            raise ConfigError(
                f"{self.key}.input", self.input, "a floating-point input (images, signals, rows)"
            )
        forward = raw_forward(pl_module, batch, self.stats, self.input)
        was_training = pl_module.training
        pl_module.eval()  # batch-norm statistics and dropout masks are not the attack's to move
        adv = perturb(
            forward, to_raw(x, self.stats, self.input), batch["target"], self.attack, self.box
        )
        pl_module.train(was_training)
        batch[self.input] = to_normalised(adv, self.stats, self.input).to(x.dtype)
