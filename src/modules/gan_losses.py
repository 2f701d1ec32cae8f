"""The GAN objectives and penalties, over discriminator logits (B,)."""

import torch
from torch import nn
from torch.nn import functional as F

from src.errors import ConfigError

LOSSES = ("ns", "hinge", "wgan-gp")


class GanLoss:
    """The discriminator's and the generator's losses of one GAN objective.

    Args:
        kind: ``ns`` (non-saturating, Goodfellow et al. 2014), ``hinge`` (Lim & Ye 2017) or
            ``wgan-gp`` (Wasserstein critic; add its gradient penalty with ``gp_weight``).
        real_label: target of real samples in the ``ns`` discriminator loss; < 1 is one-sided
            label smoothing (Salimans et al. 2016: 0.9), fakes keep 0.
    """

    def __init__(self, kind: str = "ns", real_label: float = 1.0) -> None:
        if kind not in LOSSES:
            raise ConfigError("model.loss", kind, "one of " + ", ".join(LOSSES))
        if real_label != 1.0 and kind != "ns":
            raise ConfigError(
                "model.real_label", real_label, "1.0 unless model.loss=ns", "drop the smoothing"
            )
        self.kind, self.real_label = kind, real_label

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Loss of the discriminator on real and fake logits."""
        if self.kind == "ns":
            target = torch.full_like(real, self.real_label)
            real_loss = F.binary_cross_entropy_with_logits(real, target)
            return real_loss + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        if self.kind == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return fake.mean() - real.mean()

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        """Loss of the generator on the discriminator's logits of its samples."""
        if self.kind == "ns":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        return -fake.mean()


def gradient_penalty(
    discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)|| - 1)^2] at random interpolates."""
    alpha = torch.rand(len(real), *([1] * (real.ndim - 1)), device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(mixed, y).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_penalty(
    discriminator: nn.Module, real: torch.Tensor, y: torch.Tensor | None
) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real samples; weighted by gamma / 2."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(real, y).sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()
