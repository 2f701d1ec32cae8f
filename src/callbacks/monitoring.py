"""Training health metrics: gradient norm, throughput and peak memory, logged like any metric."""

import resource
import sys
import time
from typing import Any

import lightning.pytorch as pl
import torch
from torch.optim import Optimizer

from src.utils.steps import is_logging_step


class GradNormMonitor(pl.Callback):
    """Logs ``train/grad_norm``: the 2-norm of the gradients an optimizer is about to apply,
    before clipping, per step and per epoch.

    With several optimizers (a GAN's generator and discriminator, under manual optimisation)
    each gets its own, ``train/grad_norm_<i>`` for ``trainer.optimizers[i]``, over the
    parameters of that optimizer alone.

    Args:
        norm_type: the p of the p-norm (2 = Euclidean, ``inf`` = largest absolute entry).
    """

    def __init__(self, norm_type: float = 2.0) -> None:
        self.norm_type = float(norm_type)
        self._sums: dict[int, torch.Tensor | float] = {}
        self._counts: dict[int, int] = {}
        self._params: dict[int, tuple[str, list[torch.Tensor], bool]] = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # walked once per fit, by optimizer id: the hook gets the optimizer, not its index
        many = len(trainer.optimizers) > 1
        for i, opt in enumerate(trainer.optimizers):
            params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
            # one device and dtype (the usual case): the per-tensor norms in one foreach call,
            # without get_total_norm's grouping (~half its time per step for a small network)
            uniform = len({(p.device, p.dtype) for p in params}) == 1
            key = f"train/grad_norm_{i}" if many else "train/grad_norm"
            self._params[id(opt)] = (key, params, uniform)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._sums, self._counts = {}, {}

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Optimizer
    ) -> None:
        if id(optimizer) not in self._params:
            return
        key, params, uniform = self._params[id(optimizer)]
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        if uniform:
            norms = torch._foreach_norm(grads, self.norm_type)
            norm = torch.linalg.vector_norm(torch.stack(norms), self.norm_type)
        else:
            norm = torch.nn.utils.get_total_norm(grads, self.norm_type)
        # summed on the device every step (no sync); handed to Lightning on logging steps and
        # once per epoch, since each self.log call costs more than a small model's step
        self._sums[id(optimizer)] = self._sums.get(id(optimizer), 0.0) + norm
        self._counts[id(optimizer)] = self._counts.get(id(optimizer), 0) + 1
        if is_logging_step(trainer):
            pl_module.log(f"{key}_step", norm, on_step=True, on_epoch=False)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for opt_id, count in self._counts.items():
            mean = self._sums[opt_id] / count
            key = self._params[opt_id][0]
            pl_module.log(f"{key}_epoch", mean, on_epoch=True, sync_dist=True)


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
    if isinstance(first, dict):  # named tensors: the target's length, else any input's
        first = first.get("target", next(iter(first.values())))
    return len(first)
