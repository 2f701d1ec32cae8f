"""A DataLoader replacement for data that fits in memory: batches are tensor slices.

``torch.utils.data.DataLoader`` pays a Python ``__getitem__`` per sample plus a collate per
batch; for small data sets that overhead dominates the step. This loader indexes the whole
tensors once per batch. It shards by rank itself, so it works under DDP without a sampler.
"""

from collections.abc import Iterator, Mapping

import torch

Batch = dict[str, torch.Tensor]


def to_device(batch: Batch, device: torch.device, pin: bool = False) -> Batch:
    """A flat dict of tensors moved directly, instead of by Lightning's walk over arbitrary
    collections, which costs ~3 % of a digits epoch on the CPU (bench/overhead.py).
    Non-blocking (from pinned memory when ``pin``) only to CUDA, as Lightning does."""
    non_blocking = device.type == "cuda"
    if pin and non_blocking:
        batch = {k: t.pin_memory() for k, t in batch.items()}
    return {k: t.to(device, non_blocking=non_blocking) for k, t in batch.items()}


class EpochCounter:
    """The epoch number, set by Lightning through the DistributedSampler-style ``set_epoch``."""

    def __init__(self) -> None:
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class TensorLoader:
    """Iterates batches of named tensors: ``{name: tensor[idx]}`` for every name.

    Args:
        tensors: named tensors with the same first dimension N (the inputs and ``target``).
        batch_size: samples per batch (per process under DDP).
        shuffle: reshuffle every epoch (seeded by ``seed`` + epoch).
        drop_last: drop the last incomplete batch.
        weights: per-sample sampling weights; when given, each epoch draws N samples with
            replacement in proportion to them (a weighted sampler).
        seed: base seed of the shuffling.
        rank: this process's rank; each rank sees a disjoint 1/world_size of every epoch.
        world_size: number of processes.
        even_shards: every rank gets ``N // world_size`` samples (and the same number of
            steps, which training under DDP needs); up to ``world_size - 1`` samples of the
            epoch are left out. False: ranks share all N samples, strided, so evaluation and
            prediction cover the whole split (shards then differ by at most one sample).
        pin_memory: copy each batch into page-locked memory, so that the copy to a CUDA device
            runs asynchronously (only when CUDA is available).
        poisson: Poisson sampling, as DP-SGD's privacy accounting assumes: each of the
            ``len(self)`` steps of an epoch takes every sample independently with probability
            ``1 / len(self)``, so batches hold ``batch_size`` samples on average (one process).
    """

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor],
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        weights: torch.Tensor | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pin_memory: bool = False,
        even_shards: bool = True,
        poisson: bool = False,
    ) -> None:
        self.tensors, self.batch_size = dict(tensors), batch_size
        self.n = len(next(iter(self.tensors.values())))
        if any(len(t) != self.n for t in self.tensors.values()):
            sizes = {k: len(t) for k, t in self.tensors.items()}
            raise ValueError(f"named tensors of different lengths: {sizes}")
        self.shuffle, self.drop_last, self.weights = shuffle, drop_last, weights
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.even_shards, self.poisson = even_shards, poisson
        if poisson and world_size > 1:
            raise ValueError("Poisson sampling runs on one process")
        self.pin_memory = pin_memory and torch.cuda.is_available()
        # Lightning calls `<loader>.sampler.set_epoch(current_epoch)` before every epoch, so the
        # shuffle order depends on the epoch number alone and a resumed run sees the same batches
        self.sampler = EpochCounter()
        self.batch_sampler = None  # Lightning inspects it; batches are sliced here instead

    def _indices(self) -> torch.Tensor:
        n = self.n
        g = torch.Generator().manual_seed(self.seed + self.sampler.epoch)
        if self.weights is not None:
            idx = torch.multinomial(self.weights, n, replacement=True, generator=g)
        elif self.shuffle:
            idx = torch.randperm(n, generator=g)
        else:
            idx = torch.arange(n)
        if self.even_shards:  # every rank runs the same number of steps
            idx = idx[: n // self.world_size * self.world_size]
        # strided like DistributedSampler: step i of all ranks together covers exactly the
        # samples of step i of one process with batch_size x world_size
        return idx[self.rank :: self.world_size]

    def _shard_size(self) -> int:
        if self.even_shards:
            return self.n // self.world_size
        return len(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        n = self._shard_size()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        if self.poisson:
            yield from self._poisson()
            return
        idx = self._indices()
        for i in range(len(self)):
            b = idx[i * self.batch_size : (i + 1) * self.batch_size]
            if self.pin_memory:
                yield {k: t[b].pin_memory() for k, t in self.tensors.items()}
            else:
                yield {k: t[b] for k, t in self.tensors.items()}

    def _poisson(self) -> Iterator[Batch]:
        g = torch.Generator().manual_seed(self.seed + self.sampler.epoch)
        rate = 1 / len(self)
        for _ in range(len(self)):
            b = (torch.rand(self.n, generator=g) < rate).nonzero().squeeze(1)
            yield {k: t[b] for k, t in self.tensors.items()}
