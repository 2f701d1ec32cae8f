"""The post-training step every compression member shares: compress the task's network, fine-
tune it if asked, test it, measure before/after, and save the checkpoint eval/predict load.

The member supplies only ``method(net, context) -> net``; everything else here knows no task:
the network is the module's attribute named by ``network`` and it is called with the batch's
named inputs (every key but ``target``), as the task modules call it.
"""

import copy
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning
import lightning.pytorch as pl
import torch
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import Callback
from torch import nn

from src.compression import report
from src.errors import ConfigError, UserError

log = logging.getLogger(__name__)
Inputs = dict[str, torch.Tensor]
COMPRESSED = "compressed.ckpt"  # beside the run's other checkpoints


def inputs_of(batch: Any) -> Inputs:
    """A batch's named inputs on the CPU: every key but ``target``."""
    return {k: v.cpu() for k, v in batch.items() if k != "target"}


@dataclass
class Context:
    """What a compression method may use besides the network."""

    module: pl.LightningModule
    trainer: pl.Trainer
    datamodule: Any
    network: str
    example: Inputs
    output_dir: Path
    # saved in the compressed checkpoint's ``compression`` entry (what restoring it needs)
    info: dict[str, Any]

    def train_inputs(self, batches: int) -> Iterator[Inputs]:
        """The named inputs of the first ``batches`` training batches (calibration data)."""
        for i, batch in enumerate(self.datamodule.train_dataloader()):
            if i >= batches:
                return
            yield inputs_of(batch)

    def fine_tune(self, net: nn.Module, epochs: int) -> nn.Module:
        """``net`` trained ``epochs`` more epochs in place of the module's network, with the
        module's own loss, optimizer and schedule, on the CPU (no logging, no checkpoints)."""
        if epochs <= 0:
            return net
        setattr(self.module, self.network, net)
        tuner = pl.Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=epochs,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_train_batches=self.trainer.limit_train_batches,
            limit_val_batches=0,
            num_sanity_val_steps=0,
        )
        tuner.fit(self.module, datamodule=self.datamodule)
        return getattr(self.module, self.network)


Method = Callable[[nn.Module, Context], nn.Module]


def require_cpu(trainer: pl.Trainer, method: str) -> None:
    """int8 CPU kernels (and timing them) need the run on the CPU."""
    if not isinstance(trainer.accelerator, CPUAccelerator):
        raise ConfigError(
            "hardware",
            type(trainer.accelerator).__name__,
            f"the CPU for compression={method} (its int8 kernels and latency figures are CPU's)",
            "train with hardware=cpu, or train on the GPU and then compress the checkpoint on "
            "the CPU (mode=train hardware=cpu ckpt_path=<file> trainer.max_epochs=<done>)",
        )


class CompressionChecks(Callback):
    """The member's settings, checked when the callbacks are built (before anything trains),
    and its needs of the hardware and the network, checked at setup (before the first step).

    Args:
        method: the member's name, for the messages.
        cpu_only: the member's kernels run on the CPU only (int8 quantisation).
        fractions: config key -> value that must lie in [0, 1) (sparsity, channel ratio).
        counts: config key -> value that must be at least 1 (calibration batches, epochs).
        probe: called with the network at setup; raises if the member cannot handle it.
        network: the module attribute holding the network.
    """

    def __init__(
        self,
        method: str,
        cpu_only: bool = False,
        fractions: dict[str, float] | None = None,
        counts: dict[str, int] | None = None,
        probe: Callable[[nn.Module], Any] | None = None,
        network: str = "net",
    ) -> None:
        for key, value in (fractions or {}).items():
            if not 0.0 <= value < 1.0:
                raise ConfigError(key, value, "a fraction in [0, 1)", "e.g. 0.8 removes 80 %")
        for key, value in (counts or {}).items():
            if value < 1:
                raise ConfigError(key, value, f"at least 1 for compression={method}")
        self.method, self.cpu_only, self.probe, self.network = method, cpu_only, probe, network

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.cpu_only:
            require_cpu(trainer, self.method)
        if self.probe is not None and stage == "fit":
            self.probe(getattr(pl_module, self.network))


def test_metrics(trainer: pl.Trainer, module: pl.LightningModule, datamodule: Any) -> dict:
    """The test split's epoch metrics of ``module`` as it is now."""
    trainer.test(module, datamodule=datamodule, verbose=False)
    return {
        k: float(v)
        for k, v in trainer.callback_metrics.items()
        if k.startswith("test/") and v.numel() == 1
    }


def compress(
    module: pl.LightningModule,
    trainer: pl.Trainer,
    datamodule: Any,
    *,
    method: Method,
    name: str,
    output_dir: str,
    network: str = "net",
    batch_sizes: tuple[int, ...] = (1, 64),
    repeats: int = 50,
    warmup: int = 5,
    threads: int = 1,
    cpu_only: bool = False,
    compiled: bool = False,
) -> dict[str, float]:
    """Compress ``module.<network>`` with ``method``; test, measure and save the result.

    Writes ``compression_report.json`` and ``checkpoints/compressed.ckpt`` (the compressed
    module, which ``mode=eval|predict compression=<name> ckpt_path=<it>`` loads) under
    ``output_dir``. ``compiled`` also times both networks compiled by inductor (its first
    passes compile, in the untimed warm-up; minutes on a small CPU).

    Returns:
        ``compression/...`` figures (before, after and before/after ratios) for metrics.json.
    """
    if cpu_only:
        require_cpu(trainer, name)
    out = Path(output_dir)
    before_net = copy.deepcopy(getattr(module, network)).cpu().eval()
    before = test_metrics(trainer, module, datamodule)
    example = inputs_of(next(iter(datamodule.test_dataloader())))
    context = Context(module, trainer, datamodule, network, example, out, {"method": name})
    after_net = method(copy.deepcopy(before_net), context)
    after_net.eval()  # not chained: an exported graph's eval() returns None
    setattr(module, network, after_net)
    after = test_metrics(trainer, module, datamodule)
    nets = {"before": before_net, "after": after_net.cpu()}
    rows = report.measure(nets, example, batch_sizes, repeats, warmup, threads, compiled)
    rows["before"] |= before
    rows["after"] |= after
    save(module, trainer, out / "checkpoints" / COMPRESSED, context.info)
    settings = {
        "method": name,
        "threads": threads,
        "repeats": repeats,
        "warmup": warmup,
        "compiled": compiled,
    }
    return report.write(rows, settings, out, trainer.loggers, trainer.global_step)


def save(module: pl.LightningModule, trainer: pl.Trainer, path: Path, info: dict) -> None:
    """The compressed module as a checkpoint: the run's best one (its datamodule state, epoch)
    with the compressed weights and ``info`` under ``compression``, without optimizer state."""
    best = getattr(trainer.checkpoint_callback, "best_model_path", "")
    checkpoint = torch.load(best, map_location="cpu", weights_only=False) if best else {}
    for key in ("optimizer_states", "lr_schedulers"):  # nothing to resume: fine-tuning is done
        checkpoint.pop(key, None)
    checkpoint.setdefault("epoch", trainer.current_epoch)
    checkpoint.setdefault("global_step", trainer.global_step)
    checkpoint.setdefault("pytorch-lightning_version", lightning.__version__)
    checkpoint["state_dict"] = module.state_dict()
    checkpoint["compression"] = info
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    log.info("compressed checkpoint: %s", path)


def compression_info(checkpoint: str | None, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``compression`` entry and the state_dict of a checkpoint written by
    :func:`compress` with ``method``, or an error naming the file."""
    if checkpoint is None:
        raise ConfigError("ckpt_path", None, f"a {COMPRESSED} written by compression={method}")
    loaded = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True)
    info = loaded.get("compression")
    if not info or info.get("method") != method:
        raise UserError(
            f"checkpoint '{checkpoint}' was not written by compression={method} (its "
            f"compression entry: {info}). Fix: give ckpt_path=<run>/checkpoints/{COMPRESSED} "
            f"of a compression={method} run, or drop compression={method} for a plain checkpoint"
        )
    return dict(info), loaded["state_dict"]
