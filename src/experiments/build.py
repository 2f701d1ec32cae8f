"""Builders shared by the entry functions: every object comes from its config's ``_target_``."""

from typing import Any

import hydra
import lightning.pytorch as pl
import torch
from hydra.errors import InstantiationException
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from src.config.arguments import check_arguments
from src.errors import ConfigError, UserError
from src.hardware import distributed, runtime


def instantiate(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` of ``cfg.<key>``, with errors that name the key.

    A :class:`UserError` raised while building (a missing data file, say) passes through as is.
    """
    node = OmegaConf.select(cfg, key)
    check_arguments(node, key)  # a wrong-typed or unknown argument, named before anything runs
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as e:
        cause: BaseException | None = e
        while cause is not None:
            if isinstance(cause, UserError):
                raise cause from e
            cause = cause.__cause__
        detail = " ".join(str(e).split())
        raise UserError(
            f"{key}: could not be built: {detail}. Check the keys under `{key}` "
            f"(print them with `python run.py --cfg job -p {key}`)."
        ) from e


def datamodule(cfg: DictConfig) -> pl.LightningDataModule:
    """The data set, batched per process as ``hardware.per_device_batch_size`` says."""
    hw = cfg.hardware
    return instantiate(
        cfg, "dataset", batch_size=hw.per_device_batch_size, pin_memory=hw.pin_memory
    )


def module(cfg: DictConfig) -> pl.LightningModule:
    """The model with its optimizer (at ``hardware.lr``), compiled if ``hardware.compile``."""
    lr = cfg.hardware.lr  # optimizer.lr after hardware.lr_scaling
    built = instantiate(
        cfg,
        "model",
        optimizer=instantiate(cfg, "optimizer", **({} if lr is None else {"lr": lr})),
        scheduler=instantiate(cfg, "scheduler"),
    )
    return runtime.compile_module(built, cfg.hardware.compile, cfg.hardware.compile_mode)


def callbacks(cfg: DictConfig) -> list[Callback]:
    return [instantiate(cfg, f"callbacks.{k}") for k, v in cfg.callbacks.items() if v is not None]


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
