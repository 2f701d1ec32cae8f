"""The GAN task's artefact: grids of samples from a fixed noise vector, every N epochs.

Listed under ``callbacks`` in ``conf/model/_gan.yaml``. The same noise every time, so the
grids of successive epochs show how the same draws evolve; one row per class when the GAN is
class-conditional. PNGs go to ``<run>/samples/`` (W&B uploads the run's PNGs) and to a
TensorBoard logger's images.
"""

import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn


def image_grid(images: torch.Tensor, columns: int) -> np.ndarray:
    """(B, C, H, W) images -> one (rows*(H+1)-1, columns*(W+1)-1, C) uint8 array.

    Values are scaled by the batch's common minimum and maximum, so the images keep their
    relative brightness; a 1-pixel gap separates them.
    """
    x = images.detach().float().cpu()
    lo, hi = x.min(), x.max()
    x = ((x - lo) / (hi - lo).clamp(min=1e-8) * 255).round().to(torch.uint8)
    b, c, h, w = x.shape
    rows = math.ceil(b / columns)
    grid = torch.zeros(c, rows * (h + 1) - 1, columns * (w + 1) - 1, dtype=torch.uint8)
    for i in range(b):
        r, col = divmod(i, columns)
        grid[:, r * (h + 1) : r * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = x[i]
    return grid.permute(1, 2, 0).numpy()


def save_png(array: np.ndarray, path: Path, upscale: int = 1) -> Path:
    """Write an (H, W, C) uint8 array (C = 1 or 3) as a PNG, each pixel ``upscale`` times."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    array = array.repeat(upscale, 0).repeat(upscale, 1)
    image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    image.save(path)
    return path


def fixed_inputs(
    module: Any, num_samples: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """Noise (B, latent), labels (B,) or None, and the grid's columns: ``num_samples`` draws,
    or, when conditional, ``num_samples`` per class, one row per class."""
    gen = torch.Generator().manual_seed(seed)
    classes = module.num_classes
    if not classes:
        return module.noise(num_samples, gen), None, math.ceil(math.sqrt(num_samples))
    y = torch.arange(classes).repeat_interleave(num_samples).to(module.device)
    return module.noise(classes * num_samples, gen), y, num_samples


class SampleGrid(pl.Callback):
    """``samples/epoch_<n>.png`` every ``every_n_epochs`` validation epochs and after the last.

    Args:
        output_dir: the run directory.
        every_n_epochs: how often, in epochs.
        num_samples: images in the grid, or per class when conditional.
        seed: seed of the fixed noise.
        upscale: pixels per image pixel in the PNG (8x8 digits are tiny).
    """

    def __init__(
        self,
        output_dir: str,
        every_n_epochs: int = 10,
        num_samples: int = 64,
        seed: int = 0,
        upscale: int = 4,
    ) -> None:
        self.output_dir, self.every_n_epochs = Path(output_dir), every_n_epochs
        self.num_samples, self.seed, self.upscale = num_samples, seed, upscale

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if (
            trainer.sanity_checking
            or trainer.state.fn != TrainerFn.FITTING
            or not trainer.is_global_zero
        ):
            return
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs and epoch < (trainer.max_epochs or 0):
            return
        z, y, columns = fixed_inputs(pl_module, self.num_samples, self.seed)
        grid = image_grid(pl_module.sample(z, y), columns)
        save_png(grid, self.output_dir / "samples" / f"epoch_{epoch:03d}.png", self.upscale)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("samples", grid, epoch, dataformats="HWC")
