"""Process-wide hardware settings and ``torch.compile``, applied in one place by the builders."""

import logging
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)

log = logging.getLogger(__name__)


def set_matmul_precision(precision: str) -> None:
    """float32 matmuls: ``highest`` (exact fp32), ``high`` (TF32 on Ampere+), ``medium`` (bf16).

    A process-wide switch, so it is set before the Trainer is built and holds for every rank.
    """
    torch.set_float32_matmul_precision(precision)


def compile_module(module: M, enabled: bool, mode: str) -> M:
    """Compile ``module``'s forward in place with ``torch.compile`` when ``enabled``.

    ``nn.Module.compile`` (unlike ``torch.compile(module)``) keeps the module's class and its
    ``state_dict`` keys, so checkpoints load whether or not the run that wrote them compiled.
    Lightning calls ``training_step`` etc. on the module itself; they reach the compiled code
    through ``self(x)``, so every task module gets it without knowing about it.
    """
    if enabled:
        module.compile(mode=None if mode == "default" else mode)
        log.info("torch.compile: forward of %s compiled (mode=%s)", type(module).__name__, mode)
    return module
