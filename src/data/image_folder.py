"""A folder of images, one sub-folder per class (``dataset=image_folder``), in memory or streamed.

Images are resized to ``image_size`` and converted to grayscale or RGB when read. When the
decoded images fit in ``memory_budget_mb`` (``in_memory: auto``) they are held as one uint8
tensor and served by the :class:`~src.data.loader.TensorLoader`, as the in-memory data sets
are; otherwise each batch is read from disk by ``num_workers`` DataLoader processes. Either
way batches are ``{"x": (B, C, H, W) uint8, "target": (B,)}``, normalised on the device with
per-channel statistics of the training split, and sharded by rank in the TensorLoader's order.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader

from src.data import fingerprint, image_files
from src.data.augment import BatchAugment
from src.data.image_files import Files
from src.data.loader import Batch, TensorLoader
from src.data.streaming import ImageFiles, ShardSampler
from src.errors import ConfigError

log = logging.getLogger(__name__)


class ImageFolderDataModule(pl.LightningDataModule):
    """The images of ``path``: split by its ``train/``/``val/``/``test/`` sub-folders when it
    has them (a missing ``val/`` or ``test/`` is carved out of ``train/``), otherwise by
    fractions (stratified, seeded).

    Its state (per-channel offset and scale of the training split, class names) is saved in
    every checkpoint and loaded before :meth:`setup` for eval and predict; ``predict_split=all``
    then reads every image under ``path`` (class -1 outside a folder named after a class).

    Args:
        path: the folder.
        image_size: side of the square images fed to the network, or ``[H, W]``.
        channels: 1 (grayscale) or 3 (RGB).
        input_shape: ``[channels, H, W]``, which networks read; checked against the above.
        num_classes: the number of class sub-folders.
        task: ``multiclass`` or ``binary``.
        num_outputs: units of the network's last layer (num_classes, 1 for binary); checked.
        batch_size: samples per batch and process.
        val_fraction: share carved out of the training images for validation (no ``val/``).
        test_fraction: share carved out for testing (no ``test/``).
        normalize: ``standard`` (per-channel mean/std), ``minmax`` or ``none`` (0..255).
        sampler: ``uniform`` or ``weighted`` (every class drawn equally often).
        seed: seed of the split and of the shuffling.
        augment: batch augmentation of training batches.
        pin_memory: serve batches in page-locked memory.
        predict_split: the split ``predict_dataloader`` serves (``all``: every image).
        in_memory: ``auto`` (when the uint8 images fit ``memory_budget_mb``), true or false.
        memory_budget_mb: memory the decoded images may take when ``in_memory`` is auto.
        num_workers: processes reading images while streaming (threads when loading to memory).
        stats_samples: training images the statistics are computed from when streaming.
    """

    def __init__(
        self,
        path: str,
        image_size: int | list[int],
        channels: int,
        input_shape: list[int],
        num_classes: int,
        task: str = "multiclass",
        num_outputs: int | None = None,
        batch_size: int = 64,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        normalize: str = "standard",
        sampler: str = "uniform",
        seed: int = 42,
        augment: BatchAugment | None = None,
        pin_memory: bool = False,
        predict_split: str = "test",
        in_memory: str | bool = "auto",
        memory_budget_mb: float = 2048,
        num_workers: int = 2,
        stats_samples: int = 2000,
    ) -> None:
        super().__init__()
        _check_options(task, channels, in_memory)
        self.path, self.channels = path, channels
        side = [image_size, image_size] if isinstance(image_size, int) else list(image_size)
        self.size = (int(side[0]), int(side[1]))
        if list(input_shape) != [channels, *self.size]:
            raise ConfigError(
                "dataset.input_shape",
                list(input_shape),
                f"[channels, H, W] = {[channels, *self.size]}",
                "leave dataset.input_shape unset",
            )
        if task == "binary" and num_classes != 2:
            expected = f"multiclass for {num_classes} class folders (binary needs 2)"
            raise ConfigError("dataset.task", task, expected, "set dataset.task=multiclass")
        outputs = 1 if task == "binary" else num_classes
        if num_outputs is not None and num_outputs != outputs:
            raise ConfigError(
                "dataset.num_outputs", num_outputs, f"{outputs} for this task", "leave it unset"
            )
        self.num_classes, self.task, self.batch_size = num_classes, task, batch_size
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        self.normalize, self.sampler, self.pin_memory = normalize, sampler, pin_memory
        self.predict_split, self.in_memory = predict_split, in_memory
        self.memory_budget = memory_budget_mb * 2**20
        self.num_workers, self.stats_samples = num_workers, stats_samples
        self.augment = augment if augment is not None and augment.active else None
        self.files: dict[str, Files] = {}
        self.tensors: dict[str, Batch] = {}  # in memory: split -> {"x", "target"}
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.class_names: list[str] = []
        self._state_loaded = False

    # ---- preprocessing state: saved in every checkpoint by Lightning ----------------------
    def state_dict(self) -> dict[str, Any]:
        return {"stats": dict(self.stats), "class_names": list(self.class_names)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict:
            self.stats = {k: (o, s) for k, (o, s) in state_dict["stats"].items()}
            self.class_names, self._state_loaded = list(state_dict["class_names"]), True

    # ---- loading -----------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.files:
            return
        if not self._state_loaded:
            self.class_names = image_files.class_folders(self.path)
        if len(self.class_names) != self.num_classes:
            raise ConfigError(
                "dataset.num_classes",
                self.num_classes,
                f"the number of class folders, {len(self.class_names)}",
                "leave dataset.num_classes unset",
            )
        if stage == "predict" and self.predict_split == "all":
            self.files = {"all": image_files.every_image(self.path, self.class_names)}
        else:
            self.files = self._split()
        if self._fits_in_memory():
            self.tensors = {k: self._decode_all(v) for k, v in self.files.items()}
        if not self._state_loaded:  # from the training split only: nothing leaks
            train = self.files["train"] if "train" in self.files else self.files["all"]
            self.stats = {"x": self._statistics(train)}

    def _split(self) -> dict[str, Files]:
        folder = image_files.root(self.path)
        if not image_files.is_split(folder):
            rest, test = self._carve(image_files.labelled(folder, self.class_names), "test")
            train, val = self._carve(rest, "val")
            return {"train": train, "val": val, "test": test}
        train = image_files.labelled(folder / "train", self.class_names)
        if (folder / "test").is_dir():
            test = image_files.labelled(folder / "test", self.class_names)
        else:
            train, test = self._carve(train, "test")
        if (folder / "val").is_dir():
            val = image_files.labelled(folder / "val", self.class_names)
        else:
            train, val = self._carve(train, "val")
        return {"train": train, "val": val, "test": test}

    def _carve(self, files: Files, split: str) -> tuple[Files, Files]:
        fraction = self.test_fraction if split == "test" else self.val_fraction
        if fraction <= 0:
            return files, files.subset(np.arange(0))
        try:
            keep, held = train_test_split(
                np.arange(len(files)),
                test_size=fraction,
                stratify=files.labels,
                random_state=self.seed,
            )
        except ValueError as e:  # fewer images than classes on one side
            raise ConfigError(
                f"dataset.{split}_fraction",
                fraction,
                f"a share that leaves each side at least one image per class of the {len(files)} "
                f"images ({e})",
                f"add images, or a {split}/ folder",
            ) from e
        return files.subset(np.sort(keep)), files.subset(np.sort(held))

    def _fits_in_memory(self) -> bool:
        if self.in_memory != "auto":
            return bool(self.in_memory)
        images = sum(len(f) for f in self.files.values())
        size = images * self.channels * self.size[0] * self.size[1]
        fits = size <= self.memory_budget
        log.info(
            "%d images of %s take %.0f MB as uint8: %s (dataset.memory_budget_mb=%.0f)",
            images,
            self.path,
            size / 2**20,
            "held in memory" if fits else "read from disk per batch",
            self.memory_budget / 2**20,
        )
        return fits

    def _decode_all(self, files: Files) -> Batch:
        x = np.empty((len(files), self.channels, *self.size), dtype=np.uint8)
        with ThreadPoolExecutor(max(1, self.num_workers)) as pool:  # Pillow decodes without GIL
            decoded = pool.map(
                lambda p: image_files.decode(p, self.size, self.channels), files.paths
            )
            for i, image in enumerate(decoded):
                x[i] = image
        return {"x": torch.from_numpy(x), "target": torch.from_numpy(files.labels)}

    def _statistics(self, train: Files) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel offset and scale, (1, C, 1, 1), of the training images (in memory: all
        of them; streaming: a seeded sample of ``stats_samples``)."""
        if "train" in self.tensors:
            x = self.tensors["train"]["x"]
        else:
            rng = np.random.default_rng(self.seed)
            n = min(len(train), self.stats_samples)
            x = self._decode_all(train.subset(np.sort(rng.choice(len(train), n, replace=False))))[
                "x"
            ]
        offset, scale = _channel_stats(x, self.normalize)
        return offset.view(1, -1, 1, 1), scale.view(1, -1, 1, 1)

    def fingerprint(self) -> dict[str, str]:
        """``{split: digest}`` of the decoded images held in memory, else of the files' bytes."""
        return {
            k: fingerprint.of_tensors(self.tensors[k])
            if k in self.tensors
            else fingerprint.of_files(v.paths, v.labels)
            for k, v in self.files.items()
        }

    # ---- serving -----------------------------------------------------------------------------
    @property
    def class_counts(self) -> torch.Tensor:
        """Images per class in the training split, shape (num_classes,)."""
        return torch.bincount(
            torch.from_numpy(self.files["train"].labels), minlength=self.num_classes
        )

    def _loader(self, split: str, train: bool = False) -> TensorLoader | DataLoader:
        files = self.files[split]
        weights = None
        if train and self.sampler == "weighted":
            weights = (1.0 / self.class_counts.clamp(min=1).float())[torch.from_numpy(files.labels)]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        in_memory = split in self.tensors
        order = TensorLoader(
            self.tensors[split] if in_memory else {"row": torch.arange(len(files))},
            self.batch_size if in_memory else 1,
            shuffle=train,
            weights=weights,
            seed=self.seed,
            rank=rank,
            world_size=world,
            pin_memory=self.pin_memory,
            even_shards=train,  # evaluation and prediction see every image of their split
        )
        if in_memory:
            return order
        dataset = ImageFiles(files, self.size, self.channels)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=ShardSampler(dataset, order),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> TensorLoader | DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> TensorLoader | DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> TensorLoader | DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> TensorLoader | DataLoader:
        return self._loader(self.predict_split)

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        offset, scale = (t.to(batch["x"].device) for t in self.stats["x"])
        x = (batch["x"].float() - offset) / scale  # (B, C, H, W)
        training = self.augment is not None and self.trainer is not None and self.trainer.training
        batch["x"] = self.augment(x) if training else x  # type: ignore[misc]
        return batch


def _channel_stats(x: torch.Tensor, normalize: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(C,) offset and scale of uint8 images (N, C, H, W), in float64 chunks (no full copy)."""
    channels = x.shape[1]
    total, squares = (
        torch.zeros(channels, dtype=torch.float64),
        torch.zeros(channels, dtype=torch.float64),
    )
    low, high = torch.full((channels,), 255.0), torch.zeros(channels)
    for chunk in x.split(1024):
        c = chunk.double()
        total += c.sum((0, 2, 3))
        squares += c.square().sum((0, 2, 3))
        low, high = (
            torch.minimum(low, c.amin((0, 2, 3)).float()),
            torch.maximum(high, c.amax((0, 2, 3)).float()),
        )
    count = max(1, x.numel() // channels)
    if normalize == "standard":
        mean = total / count
        offset, scale = mean, (squares / count - mean.square()).clamp(min=0).sqrt()
    elif normalize == "minmax":
        offset, scale = low.double(), (high - low).double()
    else:
        offset, scale = (
            torch.zeros(channels, dtype=torch.float64),
            torch.ones(channels, dtype=torch.float64),
        )
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return offset.float(), scale.float()


def _check_options(task: str, channels: int, in_memory: str | bool) -> None:
    if task not in ("multiclass", "binary"):
        raise ConfigError(
            "dataset.task",
            task,
            "multiclass or binary: an image folder's classes are its sub-folders",
        )
    if channels not in (1, 3):
        raise ConfigError("dataset.channels", channels, "1 (grayscale) or 3 (RGB)")
    if in_memory not in ("auto", True, False):
        raise ConfigError("dataset.in_memory", in_memory, "auto, true or false")
