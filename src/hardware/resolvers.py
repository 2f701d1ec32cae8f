"""Derived hardware values as OmegaConf resolvers, so the resolved config shows what ran.

``conf/hardware/cpu.yaml`` (the base of every member) reads, e.g.::

    world_size: ${hw.world_size:${.accelerator},${.devices},${.num_nodes}}

Torch is imported only to count GPUs when ``devices`` is ``auto``/-1 on a GPU accelerator,
and only when that key is resolved (after validation), never while composing.
"""

import math
from collections.abc import Callable
from typing import Any

from omegaconf import OmegaConf

_AUTO = ("auto", -1, "-1")


def world_size(accelerator: str, devices: Any, num_nodes: int) -> int:
    """Processes in the run: devices per node x nodes, counting visible GPUs for ``auto``/-1."""
    if isinstance(devices, int) and devices > 0:
        per_node = devices
    elif isinstance(devices, str) and devices not in _AUTO and "," in devices:
        per_node = len([d for d in devices.split(",") if d.strip()])  # "0,1" = GPUs 0 and 1
    elif OmegaConf.is_list(devices) or isinstance(devices, list | tuple):
        per_node = len(devices)
    elif isinstance(devices, str) and devices.isdigit():
        per_node = int(devices)
    else:  # auto / -1: what Lightning would pick
        per_node = _visible_gpus() if accelerator in ("gpu", "cuda", "auto") else 1
        per_node = max(per_node, 1)  # `auto` falls back to one CPU process
    return per_node * num_nodes


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def per_device_batch(batch_size: int, world: int, mode: str) -> int:
    """Samples each process takes per step: ``batch_size`` itself or its share of a global batch."""
    if mode == "per_device":
        return batch_size
    if batch_size % world:
        raise ValueError(
            f"hardware.batch_size_mode=global needs dataset.batch_size ({batch_size}) divisible "
            f"by the world size ({world}); change dataset.batch_size or hardware.devices"
        )
    return batch_size // world


def scaled_lr(lr: float | None, rule: str, effective: int, base: int) -> float | None:
    """``lr`` scaled from the batch it was tuned for (``base``) to the ``effective`` batch."""
    if lr is None or rule == "none":
        return lr
    ratio = effective / base
    return float(lr * (ratio if rule == "linear" else math.sqrt(ratio)))


def with_lr(optimizer: Any, lr: float | None) -> Any:
    """The ``optimizer`` node with ``lr`` set to ``hardware.lr`` (optimizer.lr after scaling).

    Model configs read ``optimizer: ${hw.optimizer:${optimizer},${hardware.lr}}``, so the
    model node owns its optimizer and the resolved YAML shows the learning rate that ran.
    """
    if OmegaConf.is_config(optimizer):
        optimizer = OmegaConf.to_container(optimizer, resolve=True)
    node = optimizer
    if lr is not None and isinstance(node, dict) and "lr" in node:
        node["lr"] = lr
    return OmegaConf.create(node) if isinstance(node, dict) else node


def register() -> None:
    """Register the ``hw.*`` resolvers (idempotent: safe when composing several times)."""
    resolvers: dict[str, Callable[..., Any]] = {
        "hw.world_size": world_size,
        "hw.per_device_batch": per_device_batch,
        "hw.product": lambda *xs: math.prod(int(x) for x in xs),
        "hw.scaled_lr": scaled_lr,
        "hw.optimizer": with_lr,
    }
    for name, fn in resolvers.items():
        OmegaConf.register_new_resolver(name, fn, replace=True)


register()
