"""Sample grids: the layout of the PNG and the same noise at every epoch."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from src.callbacks.gan import fixed_inputs, image_grid, save_png
from tests.modules.test_gan import gan


def test_grid_layout_and_scaling(tmp_path: Path) -> None:
    images = torch.stack([torch.full((1, 2, 3), float(v)) for v in range(5)])  # (5, 1, 2, 3)
    grid = image_grid(images, columns=2)
    assert grid.shape == (3 * 3 - 1, 2 * 4 - 1, 1) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 0 and grid[-1, 0, 0] == 255  # first and last image: min and max
    assert grid[-1, -1, 0] == 0  # the unused sixth cell stays black
    path = save_png(grid, tmp_path / "g.png", upscale=3)
    assert Image.open(path).size == (3 * (2 * 4 - 1), 3 * (3 * 3 - 1))


def test_the_noise_is_fixed_and_conditional_grids_have_a_row_per_class() -> None:
    z1, y1, columns = fixed_inputs(gan(), num_samples=9, seed=0)
    z2, _, _ = fixed_inputs(gan(), num_samples=9, seed=0)
    assert torch.equal(z1, z2) and y1 is None and columns == 3
    z, y, columns = fixed_inputs(gan(num_classes=3), num_samples=4, seed=0)
    assert y is not None and y.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and columns == 4
    assert z.shape == (12, 8)
