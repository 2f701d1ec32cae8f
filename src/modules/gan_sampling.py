"""Images from a trained GAN: ``python run.py mode=sample ckpt_path=<gan .ckpt>``.

Builds the generator of ``model.generator`` alone (no discriminator, no FID classifier),
loads the checkpoint's moving-average weights (``generator_ema``; the trained ``generator``
when the run had no average) and writes PNGs, a grid and the raw arrays.
"""

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from omegaconf import DictConfig
from rich.console import Console

from src.callbacks.gan import image_grid, save_png
from src.errors import ConfigError
from src.experiments import build
from src.utils.checkpoints import resume_path, verify_checkpoint


def sample(cfg: DictConfig) -> dict[str, Any]:
    """Write ``sample.num`` images (per class of ``sample.classes`` when conditional) to
    ``<run>/<sample.output_dir>/``: ``<i>.png`` (or ``class_<c>_<i>.png``), ``grid.png`` and
    ``samples.npz`` (``images`` in the data's normalised space, ``labels``)."""
    out = Path(cfg.paths.output_dir) / cfg.sample.output_dir
    pl.seed_everything(cfg.seed)
    checkpoint = verify_checkpoint(resume_path(cfg))
    generator = build.instantiate(cfg, "model.generator").eval()
    generator.load_state_dict(generator_weights(checkpoint, str(cfg.ckpt_path)))
    labels = requested_labels(cfg)
    z = torch.randn(len(labels) if labels is not None else cfg.sample.num, cfg.model.latent_dim)
    with torch.no_grad():
        images = torch.cat([generator(part, _part(labels, i)) for i, part in _chunks(z)])
    names = [f"{i:04d}.png" for i in range(len(images))]
    if labels is not None:
        names = [f"class_{int(c)}_{i:04d}.png" for i, c in enumerate(labels)]
    for image, name in zip(images, names, strict=True):
        save_png(image_grid(image[None], 1), out / name)
    columns = cfg.sample.num if labels is not None else int(np.ceil(np.sqrt(len(images))))
    save_png(image_grid(images, columns), out / "grid.png", upscale=4)
    np.savez(out / "samples.npz", images=images.numpy(), labels=_np(labels))
    Console().print(f"wrote {len(images)} samples to [bold]{out}[/]")
    return {"samples": len(images), "sample_dir": str(out), "run_dir": cfg.paths.output_dir}


def generator_weights(checkpoint: dict[str, Any], path: str) -> dict[str, torch.Tensor]:
    """The sampling network's weights: the moving average if the run kept one."""
    state = checkpoint.get("state_dict", {})
    for prefix in ("generator_ema.", "generator."):
        weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if weights and (prefix == "generator." or _averaged(state)):
            return weights
    raise ConfigError("ckpt_path", path, "a checkpoint of a GAN (model=gan...)")


def _averaged(state: dict[str, Any]) -> bool:
    updates = state.get("ema_updates")
    return updates is not None and int(updates) > 0


def requested_labels(cfg: DictConfig) -> torch.Tensor | None:
    """(num * classes,) labels, ``sample.num`` of each requested class; None if unconditional."""
    num_classes = int(cfg.model.num_classes or 0)
    if not num_classes:
        return None
    classes = list(range(num_classes)) if cfg.sample.classes is None else list(cfg.sample.classes)
    bad = [c for c in classes if not 0 <= int(c) < num_classes]
    if bad:
        raise ConfigError("sample.classes", classes, f"class indices in 0..{num_classes - 1}")
    return torch.tensor(classes).repeat_interleave(int(cfg.sample.num))


def _chunks(z: torch.Tensor, size: int = 1024) -> list[tuple[int, torch.Tensor]]:
    return [(i, z[i : i + size]) for i in range(0, len(z), size)]


def _part(labels: torch.Tensor | None, start: int, size: int = 1024) -> torch.Tensor | None:
    return None if labels is None else labels[start : start + size]


def _np(labels: torch.Tensor | None) -> np.ndarray:
    return np.array([]) if labels is None else labels.numpy()
