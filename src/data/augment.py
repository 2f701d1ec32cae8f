"""Batch-level augmentation on tensors, applied to training batches only.

Working on whole batches (after transfer to the device) keeps the in-memory data path free of
per-sample Python and lets the GPU do the work.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class BatchAugment(nn.Module):
    """Random flip, translation, rotation and Gaussian noise for a batch.

    Images are (B, C, H, W), signals (B, C, T), tabular rows (B, F) (noise only).

    Args:
        hflip: flip the last axis of half the samples.
        max_translate: shift each sample by up to this many pixels/steps, zero-padded.
        max_rotate_deg: rotate images by up to this many degrees either way.
        noise_std: standard deviation of added Gaussian noise (in normalised units).
    """

    def __init__(
        self,
        hflip: bool = False,
        max_translate: int = 0,
        max_rotate_deg: float = 0.0,
        noise_std: float = 0.0,
    ) -> None:
        super().__init__()
        self.hflip, self.max_translate = hflip, max_translate
        self.max_rotate_deg, self.noise_std = max_rotate_deg, noise_std

    @property
    def active(self) -> bool:
        return bool(self.hflip or self.max_translate or self.max_rotate_deg or self.noise_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim >= 3:
            if self.hflip:
                flip = torch.rand(x.shape[0], device=x.device) < 0.5
                x = torch.where(flip.view(-1, *[1] * (x.ndim - 1)), x.flip(-1), x)
            if self.max_translate or self.max_rotate_deg:
                x = self._affine(x)
        if self.noise_std:
            x = x + self.noise_std * torch.randn_like(x)
        return x

    def _affine(self, x: torch.Tensor) -> torch.Tensor:
        signal = x.ndim == 3
        img = x.unsqueeze(2) if signal else x  # signals as (B, C, 1, T) images
        b, _, h, w = img.shape
        theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
        angle = (torch.rand(b, device=x.device) * 2 - 1) * math.radians(self.max_rotate_deg)
        if signal:
            angle.zero_()
        theta[:, 0, 0], theta[:, 0, 1] = angle.cos(), -angle.sin()
        theta[:, 1, 0], theta[:, 1, 1] = angle.sin(), angle.cos()
        # integer shifts, expressed in grid_sample's [-1, 1] coordinates
        m = self.max_translate
        shift = torch.randint(-m, m + 1, (b, 2), device=x.device).to(x.dtype)
        theta[:, 0, 2] = shift[:, 0] * 2 / w
        theta[:, 1, 2] = 0 if signal else shift[:, 1] * 2 / h
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        mode = "bilinear" if self.max_rotate_deg else "nearest"
        out = F.grid_sample(img, grid, mode=mode, padding_mode="zeros", align_corners=False)
        return out.squeeze(2) if signal else out
