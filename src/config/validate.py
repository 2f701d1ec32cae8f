"""Range and consistency checks on a composed config, run before torch is imported.

Types are enforced while composing (:mod:`src.config.schema`); this module checks what a type
cannot say: ``optimizer.lr`` must be positive, a fraction must lie in [0, 1), a checkpoint
must exist. Each failure raises :class:`~src.errors.ConfigError` naming key, value and fix.
"""

import glob
import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from src.config.checkpoint_file import check_checkpoint_file
from src.errors import ConfigError
from src.hardware.checks import check_hardware

_MISSING = object()


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _one_of(*allowed: Any) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in allowed), "one of " + ", ".join(map(str, allowed))


@dataclass(frozen=True)
class Rule:
    key: str
    check: Callable[[Any], bool]
    expected: str
    fix: str | None = None


POSITIVE = (lambda v: _is_number(v) and v > 0), "a number > 0"
NON_NEGATIVE = (lambda v: _is_number(v) and v >= 0), "a number >= 0"
FRACTION = (lambda v: _is_number(v) and 0 <= v < 1), "a number in [0, 1)"
POSITIVE_INT = (lambda v: _is_int(v) and v >= 1), "an integer >= 1"
BATCH_LIMIT = (
    (lambda v: (_is_int(v) and v >= 0) or (_is_number(v) and 0 <= v <= 1)),
    "a fraction in [0, 1] or a whole number of batches",
)
# W&B rejects these characters in project and entity names, and names over 128 characters
_WANDB_NAME = re.compile(r"[^/\\#?%:\s][^/\\#?%:]{0,127}")
WANDB_NAME = (
    (lambda v: isinstance(v, str) and _WANDB_NAME.fullmatch(v) is not None),
    "1-128 characters without / \\ # ? % : (e.g. my-project)",
)
# the metric names src.modules.classification.METRICS knows (not imported: that imports torch)
CLASSIFICATION_METRICS = ("acc", "precision", "recall", "f1", "auroc")
METRIC_LIST = (
    (lambda v: isinstance(v, ListConfig) and all(n in CLASSIFICATION_METRICS for n in v)),
    "a list of " + ", ".join(CLASSIFICATION_METRICS),
)
PRECISIONS = ("64", "64-true", "32", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")

RULES: tuple[Rule, ...] = (
    Rule("optimizer.lr", *POSITIVE, "e.g. optimizer.lr=0.001"),
    Rule("optimizer.weight_decay", *NON_NEGATIVE),
    Rule("optimizer.momentum", *FRACTION),
    Rule("dataset.batch_size", *POSITIVE_INT, "e.g. dataset.batch_size=64"),
    Rule("dataset.val_fraction", *FRACTION),
    Rule("dataset.test_fraction", *FRACTION),
    Rule("dataset.num_classes", lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    Rule("dataset.task", *_one_of("multiclass", "binary")),
    Rule("dataset.normalize", *_one_of("standard", "minmax", "none")),
    Rule("dataset.sampler", *_one_of("uniform", "weighted")),
    Rule("dataset.augment.max_translate", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    Rule("dataset.augment.noise_std", *NON_NEGATIVE),
    Rule("model.class_weighting", *_one_of("none", "balanced")),
    Rule("model.init", *_one_of("default", "normal", "uniform", "xavier", "kaiming")),
    Rule("model.l1", *NON_NEGATIVE),
    Rule("model.l2", *NON_NEGATIVE),
    Rule("model.net.dropout", *FRACTION),
    Rule("model.metrics", *METRIC_LIST, "e.g. model.metrics=[acc,f1]"),
    Rule("model.train_metrics", *METRIC_LIST, "e.g. model.train_metrics=[acc]"),
    Rule("scheduler.interval", *_one_of("epoch", "step")),
    Rule("scheduler.warmup", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    Rule(
        "scheduler.monitor",
        lambda v: str(v).split("/")[0] in ("train", "val", "test"),
        "a logged metric such as val/loss or val/acc",
    ),
    Rule("trainer.max_epochs", lambda v: _is_int(v) and (v >= 1 or v == -1), "an integer >= 1"),
    Rule("trainer.accumulate_grad_batches", *POSITIVE_INT),
    Rule(
        "trainer.gradient_clip_val",
        lambda v: v is None or (_is_number(v) and v > 0),
        "null or a number > 0",
    ),
    Rule("trainer.limit_train_batches", *BATCH_LIMIT),
    Rule("trainer.limit_val_batches", *BATCH_LIMIT),
    Rule("trainer.limit_test_batches", *BATCH_LIMIT),
    Rule("predict.split", *_one_of("train", "val", "test")),
    Rule("hardware.accelerator", *_one_of("cpu", "gpu", "cuda", "mps", "auto")),
    Rule("hardware.precision", lambda v: str(v) in PRECISIONS, "one of " + ", ".join(PRECISIONS)),
    Rule("hardware.num_nodes", *POSITIVE_INT),
    Rule("hardware.batch_size_mode", *_one_of("per_device", "global")),
    Rule("hardware.lr_scaling", *_one_of("none", "linear", "sqrt")),
    Rule("hardware.base_batch_size", *POSITIVE_INT),
    Rule("hardware.matmul_precision", *_one_of("highest", "high", "medium")),
    Rule("hardware.compile", *_one_of(True, False)),
    Rule(
        "hardware.compile_mode",
        *_one_of("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
    ),
    Rule("logger.wandb.project", *WANDB_NAME, "e.g. logger.wandb.project=hydralit"),
    Rule(
        "logger.wandb.entity",
        lambda v: v is None or WANDB_NAME[0](v),
        "null or " + WANDB_NAME[1],
    ),
    Rule("logger.wandb.mode", *_one_of(None, "online", "offline", "disabled")),
    Rule("logger.wandb.watch", *_one_of(None, "gradients", "parameters", "all")),
    Rule("compare.mode", *_one_of("auto", "max", "min")),
    Rule(
        "optimized_metric",
        lambda v: v is None or str(v).split("/")[0] in ("train", "val", "test"),
        "null or a logged metric such as val/acc or val/loss",
    ),
)


def _select(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=False)


def _check_targets(node: Any, path: str) -> None:
    """Every ``_target_`` must name an importable module (checked without importing it)."""
    if isinstance(node, DictConfig):
        target = node.get("_target_")
        if isinstance(target, str):
            module = target.rsplit(".", 1)[0]
            if "." not in target or _find_spec(module) is None:
                raise ConfigError(
                    f"{path}._target_".lstrip("."),
                    target,
                    "an importable 'package.module.Name'",
                    "check the spelling, or install the package that provides it",
                )
        for k, v in node.items_ex(resolve=False):
            _check_targets(v, f"{path}.{k!s}")
    elif OmegaConf.is_list(node):
        for i, v in enumerate(node):
            _check_targets(v, f"{path}[{i}]")


def _find_spec(module: str) -> Any:
    top = module.split(".")[0]
    if top != "src":  # third-party: only check the distribution is installed (no import)
        return importlib.util.find_spec(top)
    try:
        return importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return None


def _check_checkpoint(cfg: DictConfig) -> None:
    ckpt, resume, mode = cfg.get("ckpt_path"), cfg.get("resume"), str(cfg.mode.value)
    if ckpt is not None:
        check_checkpoint_file("ckpt_path", str(ckpt))
    if resume is not None:
        if ckpt is not None:
            raise ConfigError("resume", resume, "null when ckpt_path is set", "use one of the two")
        if resume != "latest":
            check_checkpoint_file("resume", str(resume))
    if mode in ("eval", "predict") and ckpt is None and resume is None:
        raise ConfigError(
            "ckpt_path",
            None,
            f"a checkpoint file in mode={mode}",
            "add ckpt_path=<run dir>/checkpoints/last.ckpt (or resume=latest)",
        )


def _check_pretrained_init(cfg: DictConfig) -> None:
    """Re-initialising a network would overwrite the weights it was asked to load."""
    net = _select(cfg, "model.net")
    loads = isinstance(net, DictConfig) and (net.get("weights_path") or net.get("pretrained"))
    if loads and _select(cfg, "model.init") not in (_MISSING, "default"):
        raise ConfigError(
            "model.init",
            cfg.model.init,
            "default when model.net loads pretrained weights (it would overwrite them)",
            "drop model.init, or the weights",
        )


def _check_monitored_metric(cfg: DictConfig) -> None:
    """A val/test metric to optimise must be one the model computes."""
    metric, names = _select(cfg, "optimized_metric"), _select(cfg, "model.metrics")
    if metric is None or names is _MISSING:
        return
    split, _, name = str(metric).partition("/")
    if split in ("val", "test") and name not in (*names, "loss"):
        raise ConfigError(
            "optimized_metric",
            metric,
            f"a metric the model computes: {split}/loss or {split}/<one of model.metrics>",
            f"add {name} to model.metrics, or optimise another metric",
        )


def _check_compare(cfg: DictConfig) -> None:
    pattern = str(cfg.compare.runs)
    if cfg.mode.value == "compare" and not glob.glob(os.path.expanduser(pattern), recursive=True):
        raise ConfigError(
            "compare.runs",
            pattern,
            "a glob matching run directories, sweep directories or metrics.json files",
            "e.g. compare.runs='outputs/<name>/multirun/<time>' (quote it in the shell)",
        )


def validate(cfg: DictConfig) -> None:
    """Check ranges and references of a composed config; raise ConfigError on the first fault."""
    for rule in RULES:
        value = _select(cfg, rule.key)
        if value is not _MISSING and not rule.check(value):
            raise ConfigError(rule.key, value, rule.expected, rule.fix)
    _check_checkpoint(cfg)
    check_hardware(cfg)  # before anything resolves the derived batch-size interpolations
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(
            missing[0],
            "???",
            "a value: it is mandatory and nothing set it",
            f"add {missing[0]}=<value> or choose a config group member that sets it",
        )
    _check_pretrained_init(cfg)
    _check_monitored_metric(cfg)
    _check_compare(cfg)
    for group in ("dataset", "model", "optimizer", "scheduler", "trainer", "logger", "callbacks"):
        if cfg.get(group) is not None:
            _check_targets(cfg[group], group)
