"""Serving samples read from disk per batch: a Dataset of image files, and a sampler that
orders and shards them exactly as the in-memory TensorLoader does (so the two modes serve the
same batches, and DDP ranks read disjoint shards)."""

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, DistributedSampler

from src.data import image_files
from src.data.image_files import Files
from src.data.loader import Batch, TensorLoader


class ImageFiles(Dataset):
    """Decodes one image per item: ``{"x": (C, H, W) uint8, "target": ()}``."""

    def __init__(self, files: Files, size: tuple[int, int], channels: int) -> None:
        self.files, self.size, self.channels = files, size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Batch:
        x = image_files.decode(self.files.paths[i], self.size, self.channels)
        return {"x": torch.from_numpy(x), "target": torch.tensor(self.files.labels[i])}


class ShardSampler(DistributedSampler):
    """This rank's indices in the order a TensorLoader serves them (shuffled per epoch, strided
    by rank; even shards for training, every sample once for evaluation). A DistributedSampler,
    so that Lightning keeps it under DDP instead of putting its own in its place.

    Args:
        dataset: the N samples.
        rows: a TensorLoader over ``{"row": arange(N)}`` with batch size 1.
    """

    def __init__(self, dataset: Dataset, rows: TensorLoader) -> None:
        super().__init__(dataset, rows.world_size, rows.rank, shuffle=rows.shuffle, seed=rows.seed)
        self.rows = rows

    def set_epoch(self, epoch: int) -> None:
        self.rows.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        return (int(batch["row"]) for batch in self.rows)

    def __len__(self) -> int:
        return len(self.rows)
