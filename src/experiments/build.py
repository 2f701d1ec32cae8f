"""Builders shared by the entry functions: every object comes from its config's ``_target_``."""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import lightning.pytorch as pl
import torch
from hydra.errors import InstantiationException
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from src.callbacks.provenance import DataFingerprint
from src.config.arguments import check_arguments
from src.errors import ConfigError, UserError, user_error_in
from src.hardware import distributed, runtime
from src.utils.checkpoints import resume_path, verify_checkpoint


def instantiate(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` of ``cfg.<key>``, with errors that name the key.

    A :class:`UserError` raised while building or resolving (a missing data file, say) passes
    through as is.
    """
    try:
        node = OmegaConf.select(cfg, key)
        check_arguments(node, key)  # a wrong-typed or unknown argument, named before anything runs
        return hydra.utils.instantiate(node, **kwargs)
    except (InstantiationException, InterpolationResolutionError) as e:
        if (cause := user_error_in(e)) is not None:
            raise cause from e
        if isinstance(e, InterpolationResolutionError):
            raise
        detail = " ".join(str(e).split())
        # Hydra names the innermost node that failed (e.g. model.optimizer): say that one
        found = re.search(r"full_key: (\S+)", detail)
        where = found.group(1).rstrip(".,") if found else key
        hint = r",? ?set env var HYDRA_FULL_ERROR=1 to see chained exception\.?"
        detail = re.sub(hint, "", detail)
        detail = re.sub(r"\s*full_key: \S+", "", detail).rstrip(". ")
        raise UserError(
            f"{where}: could not be built: {detail}. Check the keys under `{where}` "
            f"(print them with `python run.py --cfg job -p {where}`)."
        ) from e


def datamodule(
    cfg: DictConfig, checkpoint: Mapping[str, Any] | None = None
) -> pl.LightningDataModule:
    """The data set, batched per process as ``hardware.per_device_batch_size`` says.

    With a loaded ``checkpoint``, the preprocessing its run learned from the training data
    (normalisation statistics, class names, encoders: the datamodule's ``state_dict``, which
    Lightning saves in every checkpoint) is restored before the data are loaded, so evaluation
    and prediction apply exactly that run's pipeline without needing its training data.
    """
    hw = cfg.hardware
    built = instantiate(
        cfg, "dataset", batch_size=hw.per_device_batch_size, pin_memory=hw.pin_memory
    )
    if checkpoint and (state := checkpoint.get(type(built).__qualname__)):
        built.load_state_dict(state)
    return built


def module(cfg: DictConfig) -> pl.LightningModule:
    """The task's LightningModule from ``cfg.model`` (which names its networks, optimizers and
    schedules itself), made private-trainable under ``privacy``, compiled if
    ``hardware.compile``."""
    built = instantiate(cfg, "model")
    if cfg.get("privacy") is not None:  # DP-SGD trains other layers (BatchNorm -> GroupNorm)
        built = instantiate(cfg, "privacy").prepare(built)
    if cfg.mode.get("needs_checkpoint") and cfg.compression.get("restore") is not None:
        # a compressed checkpoint holds tensors of another structure (int8, fewer channels):
        # the member reshapes the built module to fit it before Lightning loads it
        restore = instantiate(cfg, "compression.restore")
        built = restore(module=built, checkpoint=resume_path(cfg))
    return runtime.compile_module(built, cfg.hardware.compile, cfg.hardware.compile_mode)


def callbacks(cfg: DictConfig) -> list[Callback]:
    """The ``callbacks`` group's callbacks, then the ``compression`` member's and ``privacy``'s,
    then the one that records the data's fingerprint in the run's provenance (always)."""
    built = [instantiate(cfg, f"callbacks.{k}") for k, v in cfg.callbacks.items() if v is not None]
    extra = cfg.compression.get("callbacks") or {}
    built += [
        instantiate(cfg, f"compression.callbacks.{k}") for k, v in extra.items() if v is not None
    ]
    if cfg.get("privacy") is not None:  # DP-SGD: noise, clipping and accounting
        built.append(instantiate(cfg, "privacy"))
    return [*built, DataFingerprint(Path(cfg.paths.output_dir))]


def loggers(cfg: DictConfig) -> list[Logger]:
    return [instantiate(cfg, f"logger.{k}") for k, v in cfg.logger.items() if v is not None]


def _check_hardware(cfg: DictConfig) -> None:
    hw = cfg.hardware
    if hw.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "hardware.accelerator",
            hw.accelerator,
            "a visible CUDA GPU",
            "use hardware=cpu, or hardware=auto to fall back to the CPU",
        )
    on_cpu = hw.accelerator == "cpu" or (hw.accelerator == "auto" and not torch.cuda.is_available())
    if on_cpu and str(hw.precision) in ("16-mixed", "16-true"):
        raise ConfigError(
            "hardware.precision",
            hw.precision,
            "a precision the CPU supports",
            "use hardware.precision=bf16-mixed (or 32-true) on the CPU",
        )


def trainer(cfg: DictConfig, callbacks: list[Callback], loggers: list[Logger]) -> pl.Trainer:
    """The Trainer of ``cfg.trainer``; it shows a progress bar only if a callback provides one."""
    _check_hardware(cfg)
    if not loggers:  # LearningRateMonitor writes only to loggers and refuses to run without one
        callbacks = [cb for cb in callbacks if not isinstance(cb, LearningRateMonitor)]
    runtime.set_matmul_precision(cfg.hardware.matmul_precision)
    distributed.end_previous_job()  # a sweep's earlier job in this process: its ranks, env, group
    show_bar = any(isinstance(cb, ProgressBar) for cb in callbacks)
    built = instantiate(
        cfg, "trainer", callbacks=callbacks, logger=loggers or False, enable_progress_bar=show_bar
    )
    distributed.relaunch_as_job(built.strategy, cfg)  # extra ranks run this job, not sys.argv
    return built


def restored(cfg: DictConfig) -> tuple[str, pl.LightningModule, pl.LightningDataModule]:
    """The checkpoint ``ckpt_path`` (for modes that use a trained model outside Lightning's
    loops): its module, weights loaded and in eval mode, and its datamodule, state restored
    and set up for testing."""
    ckpt = resume_path(cfg)
    built = module(cfg)
    checkpoint = verify_checkpoint(ckpt, built)
    if "state_dict" not in checkpoint:
        raise UserError(f"ckpt_path={ckpt}: mode={cfg.mode.name} needs a single-file checkpoint")
    built.load_state_dict(checkpoint["state_dict"])
    data = datamodule(cfg, checkpoint)
    data.setup("test")
    return str(ckpt), built.eval(), data
