"""FGSM and PGD (Madry et al., 2018) under an L-infinity budget, in the input's own units.

The budget ``epsilon`` is measured before normalisation (digits: pixel values 0..16) and every
adversarial input stays inside the valid box ``[low, high]`` of the data; the networks see the
normalised input, so an attack calls a ``forward`` that takes raw inputs (e.g.
:class:`src.export.model.InferenceModel`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from src.errors import ConfigError

Forward = Callable[[torch.Tensor], torch.Tensor]  # raw input (B, ...) -> logits (B, K) or (B, 1)


@dataclass(frozen=True)
class Attack:
    """One L-infinity attack: FGSM is PGD with one step of size epsilon from the clean input.

    Args:
        epsilon: the budget, max |x_adv - x| per input value, in input units.
        steps: gradient-sign steps (FGSM: 1).
        step_size: the size of each step; None: 2.5 * epsilon / steps (Madry et al.).
        random_start: start from a uniform draw in the epsilon-ball instead of the input.
        key: the config key the values came from, for error messages.
    """

    epsilon: float
    steps: int = 1
    step_size: float | None = None
    random_start: bool = False
    key: str = "attack"

    def __post_init__(self) -> None:
        check_epsilons([self.epsilon], f"{self.key}.epsilon")
        if self.steps < 1:
            raise ConfigError(
                f"{self.key}.steps",
                self.steps,
                "an integer >= 1 (gradient steps of PGD)",
                f"set {self.key}.steps=10, or use FGSM (one step) for a single-step attack",
            )
        if self.step_size is not None and self.step_size <= 0 < self.epsilon:
            raise ConfigError(f"{self.key}.step_size", self.step_size, "a number > 0, or null")

    @property
    def alpha(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.epsilon / self.steps


def fgsm(epsilon: float, key: str = "attack") -> Attack:
    """The fast gradient sign method: one step of size epsilon (Goodfellow et al., 2015)."""
    return Attack(epsilon, steps=1, step_size=epsilon, random_start=False, key=key)


def check_epsilons(epsilons: Sequence[float], key: str) -> None:
    """Every budget must be a number >= 0 (0: the clean input)."""
    bad = [e for e in epsilons if not isinstance(e, int | float) or e < 0]
    if bad or not epsilons:
        raise ConfigError(
            key,
            list(epsilons),
            "a non-empty list of budgets >= 0 in input units (before normalisation)",
            f"e.g. {key}=[1,2,4] for pixel values 0..16",
        )


def classification_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy, or binary cross-entropy for (B, 1) logits; summed so that each sample's
    gradient does not shrink with the batch size."""
    if logits.shape[-1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(
            logits.squeeze(-1), target.float(), reduction="sum"
        )
    return nn.functional.cross_entropy(logits, target, reduction="sum")


def predicted(logits: torch.Tensor) -> torch.Tensor:
    """(B,) class indices of (B, K) logits, or of (B, 1) binary logits."""
    return (logits.squeeze(-1) > 0).long() if logits.shape[-1] == 1 else logits.argmax(-1)


def perturb(
    forward: Forward,
    x: torch.Tensor,
    target: torch.Tensor,
    attack: Attack,
    box: tuple[float, float],
) -> torch.Tensor:
    """The adversarial version of ``x`` (same shape), inside ``box`` and the epsilon-ball."""
    low, high = box
    x = x.detach().float()
    if attack.epsilon == 0:
        return x
    adv = x.clone()
    if attack.random_start:
        adv = (adv + torch.empty_like(adv).uniform_(-attack.epsilon, attack.epsilon)).clamp(
            low, high
        )
    for _ in range(attack.steps):
        adv.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(classification_loss(forward(adv), target), adv)
        adv = adv.detach() + attack.alpha * grad.sign()
        adv = torch.min(torch.max(adv, x - attack.epsilon), x + attack.epsilon).clamp(low, high)
    return adv.detach()


def robust_correct(
    forward: Forward,
    x: torch.Tensor,
    target: torch.Tensor,
    attack: Attack,
    box: tuple[float, float],
) -> torch.Tensor:
    """(B,) booleans: still classified correctly under ``attack``."""
    adv = perturb(forward, x, target, attack, box)
    with torch.no_grad():
        return predicted(forward(adv)) == target
