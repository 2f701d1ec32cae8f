"""Training health metrics: gradient norm, throughput and peak memory, logged like any metric."""

import resource
import sys
import time
from typing import Any

import lightning.pytorch as pl
import torch
from torch.optim import Optimizer


class GradNormMonitor(pl.Callback):
    """Logs ``train/grad_norm``: the global 2-norm of all gradients before clipping and stepping.

    Args:
        norm_type: the p of the p-norm (2 = Euclidean, ``inf`` = largest absolute entry).
    """

    def __init__(self, norm_type: float = 2.0) -> None:
        self.norm_type = float(norm_type)

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Optimizer
    ) -> None:
        grads = [p.grad.detach() for p in pl_module.parameters() if p.grad is not None]
        if not grads:
            return
        norm = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g, self.norm_type) for g in grads]),
            self.norm_type,
        )
        pl_module.log("train/grad_norm", norm, on_step=True, on_epoch=True, sync_dist=True)


class ThroughputMonitor(pl.Callback):
    """Per training epoch: ``perf/samples_per_sec`` (all processes), ``perf/epoch_time_s`` and
    ``perf/peak_memory_mb``.

    Peak memory is the GPU's ``max_memory_allocated`` during the epoch when training on CUDA,
    else the process's peak resident set size so far (the OS cannot reset that high-water mark).
    """

    def __init__(self) -> None:
        self._start = 0.0
        self._samples = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start, self._samples = time.perf_counter(), 0
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._samples += _batch_size(batch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seconds = time.perf_counter() - self._start
        # every process sees its own shard of equal size, so the total is rank count x local
        rate = self._samples * trainer.world_size / max(seconds, 1e-9)
        pl_module.log_dict(
            {
                "perf/samples_per_sec": rate,
                "perf/epoch_time_s": seconds,
                "perf/peak_memory_mb": peak_memory_mb(pl_module.device),
            },
            on_step=False,
            on_epoch=True,
            sync_dist=False,  # rank 0's own numbers; averaging memory across ranks hides the max
        )


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated on ``device`` (CUDA) or peak RSS of this process, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, list | tuple) else batch
    if isinstance(first, dict):
        first = next(iter(first.values()))
    return len(first)
