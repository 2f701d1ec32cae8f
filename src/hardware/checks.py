"""Hardware checks that need more than one key, run by ``validate`` before torch is imported."""

from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.errors import ConfigError


def _explicit_world_size(hw: DictConfig) -> int | None:
    """devices x num_nodes when ``devices`` is a number; None for ``auto``/-1/lists."""
    devices: Any = OmegaConf.select(hw, "devices")
    if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
        return devices * int(hw.num_nodes)
    return None


def check_hardware(cfg: DictConfig) -> None:
    """Settings the chosen device cannot run, and a global batch that does not split evenly."""
    hw = cfg.get("hardware")
    if hw is None:
        return
    if hw.get("sync_batchnorm") and hw.get("accelerator") == "cpu":
        raise ConfigError(
            "hardware.sync_batchnorm",
            True,
            "false on the CPU (torch's SyncBatchNorm runs on CUDA only)",
            "set hardware.sync_batchnorm=false, or train on GPUs (hardware=ddp)",
        )
    if hw.get("batch_size_mode") == "global":
        _check_global_batch(cfg, hw)


def _check_global_batch(cfg: DictConfig, hw: DictConfig) -> None:
    world = _explicit_world_size(hw)
    batch = OmegaConf.select(cfg, "dataset.batch_size")
    if world and isinstance(batch, int) and batch % world:
        raise ConfigError(
            "dataset.batch_size",
            batch,
            f"a multiple of the world size {world} (hardware.batch_size_mode=global)",
            f"use dataset.batch_size={batch // world * world or world}, or "
            "hardware.batch_size_mode=per_device",
        )
