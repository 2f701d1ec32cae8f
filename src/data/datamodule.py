"""One LightningDataModule for every data set that fits in memory."""

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from src.data.augment import BatchAugment
from src.data.loader import TensorLoader
from src.data.sources import Arrays
from src.errors import ConfigError

Split = tuple[torch.Tensor, torch.Tensor]


class InMemoryDataModule(pl.LightningDataModule):
    """Loads a source once, splits it (stratified, seeded), normalises it and serves batches.

    The declared ``input_shape``/``num_classes``/``task`` are what networks are built from (by
    config interpolation); :meth:`setup` checks them against the loaded data.

    Args:
        source: callable returning :class:`~src.data.sources.Arrays`.
        input_shape: shape of one sample, e.g. [1, 8, 8].
        num_classes: number of classes.
        task: ``multiclass`` or ``binary``.
        num_outputs: units of the network's last layer (num_classes, or 1 for binary).
        batch_size: samples per batch and process.
        val_fraction: share of the training data held out for validation.
        test_fraction: share held out for testing when the source has no test split.
        normalize: ``standard`` (per-channel mean/std of the train split), ``minmax``, ``none``.
        sampler: ``uniform`` or ``weighted`` (draw every class equally often).
        seed: seed of the split and of the shuffling.
        augment: batch augmentation applied to training batches only.
        pin_memory: serve batches in page-locked memory (faster copies to a CUDA device).
    """

    def __init__(
        self,
        source: Callable[[], Arrays],
        input_shape: list[int],
        num_classes: int,
        task: str,
        num_outputs: int,
        batch_size: int = 64,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        normalize: str = "standard",
        sampler: str = "uniform",
        seed: int = 42,
        augment: BatchAugment | None = None,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.source, self.input_shape = source, tuple(input_shape)
        self.num_classes, self.task, self.num_outputs = num_classes, task, num_outputs
        self.batch_size, self.val_fraction, self.test_fraction = (
            batch_size,
            val_fraction,
            test_fraction,
        )
        self.normalize, self.sampler, self.seed = normalize, sampler, seed
        self.augment = augment if augment is not None and augment.active else None
        self.pin_memory = pin_memory
        self.splits: dict[str, Split] = {}
        self.scaling: tuple[torch.Tensor, torch.Tensor] | None = None  # set for uint8 data
        self.class_names: list[str] = [str(i) for i in range(num_classes)]
        self.predict_split = "test"  # set by the predict entry point

    def prepare_data(self) -> None:
        self.source()  # downloads/generates once, on rank 0 only

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = self.source()
        self._check(data)
        self.class_names = data.class_names or self.class_names
        x, y, x_test, y_test = data.x, data.y, data.x_test, data.y_test
        if x_test is None or y_test is None:
            x, x_test, y, y_test = self._split(x, y, self.test_fraction)
        x_train, x_val, y_train, y_val = self._split(x, y, self.val_fraction)
        mean, scale = self._stats(x_train)  # from the training split only: nothing leaks
        splits = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
        if np.issubdtype(x_train.dtype, np.integer):
            # 8-bit images stay 8-bit in memory (CIFAR-10: 150 MB instead of 600 MB) and are
            # normalised per batch on the device, in on_after_batch_transfer
            self.scaling = torch.from_numpy(mean), torch.from_numpy(scale)
        else:
            splits = {
                k: (((xs - mean) / scale).astype(np.float32), ys) for k, (xs, ys) in splits.items()
            }
        self.splits = {
            k: (torch.from_numpy(np.ascontiguousarray(xs)), torch.from_numpy(ys))
            for k, (xs, ys) in splits.items()
        }

    def _split(self, x: np.ndarray, y: np.ndarray, fraction: float) -> list[np.ndarray]:
        if fraction <= 0:
            return [x, x[:0], y, y[:0]]
        return train_test_split(x, y, test_size=fraction, stratify=y, random_state=self.seed)

    def _check(self, data: Arrays) -> None:
        shape = tuple(data.x.shape[1:])
        if shape != self.input_shape:
            raise ConfigError(
                "dataset.input_shape",
                list(self.input_shape),
                f"the loaded data's sample shape {list(shape)}",
                f"set dataset.input_shape={list(shape)}",
            )
        found = int(max(data.y.max(), -1 if data.y_test is None else data.y_test.max())) + 1
        if found > self.num_classes:
            raise ConfigError(
                "dataset.num_classes",
                self.num_classes,
                f"at least {found} (labels go up to {found - 1})",
                f"set dataset.num_classes={found}",
            )

    def _stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (per-feature for rows) offset and scale, float32, broadcastable to x."""
        axes = (0,) if x.ndim == 2 else (0, *range(2, x.ndim))
        if self.normalize == "standard":
            mean = _chunked_mean(x, axes)
            std = np.sqrt(_chunked_mean(x, axes, center=mean))
            offset, scale = mean, np.where(std > 0, std, 1.0)
        elif self.normalize == "minmax":
            lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
            offset, scale = lo, np.where(hi > lo, hi - lo, 1.0)
        else:
            shape = (1,) * x.ndim
            offset, scale = np.zeros(shape), np.ones(shape)
        return offset.astype(np.float32), scale.astype(np.float32)

    @property
    def class_counts(self) -> torch.Tensor:
        """Samples per class in the training split, shape (num_classes,)."""
        return torch.bincount(self.splits["train"][1], minlength=self.num_classes)

    def _loader(self, split: str, train: bool = False) -> TensorLoader:
        x, y = self.splits[split]
        weights = None
        if train and self.sampler == "weighted":
            weights = (1.0 / self.class_counts.clamp(min=1).float())[y]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        return TensorLoader(
            x,
            y,
            self.batch_size,
            shuffle=train,
            drop_last=False,
            weights=weights,
            seed=self.seed,
            rank=rank,
            world_size=world,
            pin_memory=self.pin_memory,
            even_shards=train,  # evaluation and prediction see every sample of their split
        )

    def train_dataloader(self) -> TensorLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> TensorLoader:
        return self._loader("val")

    def test_dataloader(self) -> TensorLoader:
        return self._loader("test")

    def predict_dataloader(self) -> TensorLoader:
        return self._loader(self.predict_split)

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # batches are always an (x, y) pair of tensors: moved directly instead of by Lightning's
        # walk over arbitrary collections, which costs ~3 % of a digits epoch on the CPU
        # (bench/overhead.py). Non-blocking only to CUDA, as Lightning does.
        x, y = batch
        non_blocking = device.type == "cuda"
        return x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch
        if self.scaling is not None:  # uint8 images: (B, C, H, W) -> normalised float32
            mean, scale = (t.to(x.device, non_blocking=True) for t in self.scaling)
            x = (x.float() - mean) / scale
        if self.augment is not None and self.trainer is not None and self.trainer.training:
            x = self.augment(x)
        return x, y


def _chunked_mean(
    x: np.ndarray, axes: tuple[int, ...], center: np.ndarray | None = None
) -> np.ndarray:
    """Mean of x (or of (x - center)^2) over axes, in float64 chunks: no full-size float copy."""
    total = np.zeros([1 if a in axes else n for a, n in enumerate(x.shape)])
    for start in range(0, len(x), 4096):
        chunk = x[start : start + 4096].astype(np.float64)
        if center is not None:
            chunk = (chunk - center) ** 2
        total += chunk.sum(axis=axes, keepdims=True)
    return total / max(1, x.size // total.size)
