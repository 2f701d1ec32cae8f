"""Generators and discriminators for small images: DCGAN-style (convolutional) and MLP.

A generator maps noise ``z`` (B, latent_dim) and, when class-conditional (``num_classes`` > 0),
labels ``y`` (B,) to images (B, C, H, W). A discriminator maps images (and labels) to one
logit per sample (B,). Conditioning: the generator concatenates a label embedding to ``z``;
the discriminator adds a projection term ``<embed(y), features>`` (Miyato & Koyama 2018).
"""

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from src.errors import ConfigError
from src.networks.checks import require_dims

ACTIVATIONS = ("tanh", "sigmoid", "none")


def upsampling_steps(height: int, width: int) -> int:
    """Times an (H, W) image can be halved while both sides stay even and >= 4.

    8x8 -> 1 (from 4x4), 28x28 -> 2 (from 7x7), 32x32 -> 3 (from 4x4).
    """
    steps = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 4:
        height, width, steps = height // 2, width // 2, steps + 1
    return steps


def output_activation(name: str) -> nn.Module:
    """The generator's last activation; it must match the data's range (``dataset.normalize``:
    ``minmax`` gives [0, 1], so ``sigmoid``)."""
    if name not in ACTIVATIONS:
        raise ConfigError("model.generator.output", name, "one of " + ", ".join(ACTIVATIONS))
    return {"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "none": nn.Identity()}[name]


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return _spectral_norm(layer) if on else layer


class _LabelInput(nn.Module):
    """``z`` with a label embedding appended when conditional: (B, latent) -> (B, latent + E)."""

    def __init__(self, num_classes: int, embed_dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None

    @property
    def width(self) -> int:
        return self.embed.embedding_dim if self.embed is not None else 0

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return z
        if y is None:
            raise ValueError("a class-conditional generator needs labels y")
        return torch.cat([z, self.embed(y)], dim=1)


class _Projection(nn.Module):
    """The projection discriminator's class term <embed(y), h> (B,); 0 when unconditional."""

    def __init__(self, num_classes: int, width: int, spectral_norm: bool) -> None:
        super().__init__()
        self.embed = _sn(nn.Embedding(num_classes, width), spectral_norm) if num_classes else None

    def forward(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | float:
        if self.embed is None:
            return 0.0
        if y is None:
            raise ValueError("a class-conditional discriminator needs labels y")
        return (self.embed(y) * h).sum(1)


class DCGenerator(nn.Module):
    """Linear -> (ch, h0, w0), then [ConvTranspose 4x4 stride 2 -> BN -> ReLU] per
    upsampling step (channels halving), then a 3x3 conv to the image's channels.

    Args:
        input_shape: (C, H, W) of the images to generate.
        latent_dim: size of the noise vector.
        channels: channels of the last upsampling block; the first has
            ``channels * 2**(steps - 1)``.
        num_classes: > 0 for a class-conditional generator.
        embed_dim: size of the label embedding (conditional only).
        output: ``tanh``, ``sigmoid`` or ``none``: must match the data's normalised range.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int = 64,
        channels: int = 64,
        num_classes: int = 0,
        embed_dim: int = 16,
        output: str = "sigmoid",
    ) -> None:
        super().__init__()
        require_dims(input_shape, 3, "the DCGAN generator", "model=gan_mlp")
        c, h, w = input_shape
        steps = upsampling_steps(h, w)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.start = (channels * 2 ** max(steps - 1, 0), h >> steps, w >> steps)
        self.labels = _LabelInput(num_classes, embed_dim)
        self.project = nn.Sequential(
            nn.Linear(latent_dim + self.labels.width, math.prod(self.start), bias=False),
            nn.Unflatten(1, self.start),
            nn.BatchNorm2d(self.start[0]),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        ch = self.start[0]
        for _ in range(steps):
            out = max(ch // 2, channels)
            blocks += [nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out)]
            blocks += [nn.ReLU()]
            ch = out
        blocks += [nn.Conv2d(ch, c, 3, padding=1), output_activation(output)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.blocks(self.project(self.labels(z, y)))  # (B, latent) -> (B, C, H, W)


class DCDiscriminator(nn.Module):
    """3x3 conv, then [conv 4x4 stride 2 -> LeakyReLU] per downsampling step (channels
    doubling), then a linear head to one logit. No batch norm: it would couple the samples of
    a batch, which breaks the gradient penalties (WGAN-GP, R1).

    Args:
        input_shape: (C, H, W) of the images.
        channels: channels of the first conv.
        num_classes: > 0 for a class-conditional (projection) discriminator.
        spectral_norm: spectral normalisation of every weight (Miyato et al. 2018).
        dropout: dropout before the head.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: int = 64,
        num_classes: int = 0,
        spectral_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        require_dims(input_shape, 3, "the DCGAN discriminator", "model=gan_mlp")
        c, h, w = input_shape
        steps = upsampling_steps(h, w)
        layers: list[nn.Module] = [_sn(nn.Conv2d(c, channels, 3, padding=1), spectral_norm)]
        layers.append(nn.LeakyReLU(0.2))
        ch = channels
        for _ in range(steps):
            layers += [_sn(nn.Conv2d(ch, ch * 2, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2)]
            ch *= 2
        layers += [nn.Flatten(), nn.Dropout(dropout)]
        self.features = nn.Sequential(*layers)
        width = ch * (h >> steps) * (w >> steps)
        self.head = _sn(nn.Linear(width, 1), spectral_norm)
        self.projection = _Projection(num_classes, width, spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # (B, C, H, W) -> (B, width)
        return self.head(h).squeeze(1) + self.projection(h, y)  # (B,)


class MLPGenerator(nn.Module):
    """[Linear -> BN -> ReLU] per entry of ``hidden``, then Linear to C*H*W, reshaped.

    Args:
        input_shape: shape of one generated sample (any rank).
        latent_dim: size of the noise vector.
        hidden: widths of the hidden layers.
        num_classes: > 0 for a class-conditional generator.
        embed_dim: size of the label embedding (conditional only).
        output: ``tanh``, ``sigmoid`` or ``none``: must match the data's normalised range.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int = 64,
        hidden: Sequence[int] = (256, 256),
        num_classes: int = 0,
        embed_dim: int = 16,
        output: str = "sigmoid",
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.labels = _LabelInput(num_classes, embed_dim)
        layers: list[nn.Module] = []
        width = latent_dim + self.labels.width
        for units in hidden:
            layers += [nn.Linear(width, units, bias=False), nn.BatchNorm1d(units), nn.ReLU()]
            width = units
        layers += [nn.Linear(width, math.prod(input_shape)), output_activation(output)]
        layers.append(nn.Unflatten(1, tuple(input_shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.labels(z, y))  # (B, latent) -> (B, *input_shape)


class MLPDiscriminator(nn.Module):
    """Flatten, [Linear -> LeakyReLU] per entry of ``hidden``, then one logit (+ projection).

    Args:
        input_shape: shape of one sample.
        hidden: widths of the hidden layers.
        num_classes: > 0 for a class-conditional (projection) discriminator.
        spectral_norm: spectral normalisation of every weight.
        dropout: dropout after each hidden layer.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        hidden: Sequence[int] = (256, 256),
        num_classes: int = 0,
        spectral_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for units in hidden:
            layers += [_sn(nn.Linear(width, units), spectral_norm), nn.LeakyReLU(0.2)]
            layers += [nn.Dropout(dropout)] if dropout else []
            width = units
        self.features = nn.Sequential(*layers)
        self.head = _sn(nn.Linear(width, 1), spectral_norm)
        self.projection = _Projection(num_classes, width, spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # (B, *input_shape) -> (B, width)
        return self.head(h).squeeze(1) + self.projection(h, y)  # (B,)
