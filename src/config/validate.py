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

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from src.config.checkpoint_file import check_checkpoint_file
from src.errors import ConfigError, user_error_in
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
POSITIVE_OR_NULL = (lambda v: v is None or (_is_number(v) and v > 0)), "a number > 0 (or null)"
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
PRECISIONS = ("64", "64-true", "32", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")

RULES: tuple[Rule, ...] = (
    Rule("optimizer.lr", *POSITIVE, "e.g. optimizer.lr=0.001"),
    Rule("optimizer.weight_decay", *NON_NEGATIVE),
    Rule("optimizer.momentum", *FRACTION),
    Rule("dataset.batch_size", *POSITIVE_INT, "e.g. dataset.batch_size=64"),
    Rule("dataset.val_fraction", *FRACTION),
    Rule("dataset.test_fraction", *FRACTION),
    Rule(
        "dataset.num_classes",
        lambda v: v is None or (_is_int(v) and v >= 2),
        "an integer >= 2 (null for regression)",
    ),
    Rule("dataset.task", *_one_of("multiclass", "binary", "regression")),
    Rule("dataset.normalize", *_one_of("standard", "minmax", "none")),
    Rule("dataset.sampler", *_one_of("uniform", "weighted", "poisson")),
    Rule("dataset.missing", *_one_of("mean", "zero", "drop", "error")),
    Rule("dataset.channels", *_one_of(1, 3), "1 for grayscale, 3 for RGB"),
    Rule("dataset.in_memory", *_one_of("auto", True, False)),
    Rule(
        "dataset.image_size",
        lambda v: (
            (_is_int(v) and v >= 1)
            or (OmegaConf.is_list(v) and len(v) == 2 and all(_is_int(s) and s >= 1 for s in v))
        ),
        "an integer >= 1 (square images) or [H, W]",
    ),
    Rule("dataset.augment.max_translate", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    Rule("dataset.augment.noise_std", *NON_NEGATIVE),
    Rule("model.class_weighting", *_one_of("none", "balanced")),
    Rule("model.init", *_one_of("default", "normal", "uniform", "xavier", "kaiming")),
    Rule("model.l1", *NON_NEGATIVE),
    Rule("model.l2", *NON_NEGATIVE),
    Rule("model.net.dropout", *FRACTION),
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
    Rule("predict.split", *_one_of("train", "val", "test", "all")),
    # char | bpe: the language model's (dataset=text_corpus); word | pretrained: text classification
    Rule("dataset.tokenizer", *_one_of("char", "bpe", "word", "pretrained")),
    Rule("dataset.block_size", *POSITIVE_INT, "e.g. dataset.block_size=64"),
    Rule("dataset.batches_per_epoch", *POSITIVE_INT),
    Rule("model.lora.rank", *POSITIVE_INT, "e.g. model.lora.rank=8"),
    Rule("generate.max_new_tokens", *POSITIVE_INT),
    Rule("generate.num_samples", *POSITIVE_INT),
    Rule("generate.temperature", *NON_NEGATIVE, "0 for greedy decoding, e.g. 0.8"),
    Rule("generate.top_k", lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: all tokens)"),
    Rule(
        "generate.top_p",
        lambda v: _is_number(v) and 0 < v <= 1,
        "a number in (0, 1] (1: all tokens)",
    ),
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
    Rule("optimized_mode", *_one_of("max", "min"), "max when higher is better, else min"),
    Rule("privacy.target_epsilon", *POSITIVE_OR_NULL),
    Rule("privacy.target_delta", lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    Rule("privacy.noise_multiplier", *POSITIVE_OR_NULL),
    Rule("privacy.max_grad_norm", *POSITIVE),
    Rule("privacy.accountant", *_one_of("rdp", "prv", "gdp")),
    Rule("federated.engine", *_one_of("own", "flower")),
    Rule("federated.cpus_per_client", *POSITIVE_INT),
    Rule("federated.rounds", *POSITIVE_INT),
    Rule("federated.local_epochs", *POSITIVE_INT),
    Rule("federated.fraction", lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    Rule("federated.partition.clients", lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    Rule("federated.partition.split", *_one_of("iid", "dirichlet")),
    Rule("federated.partition.alpha", *POSITIVE, "e.g. 0.5 (smaller: fewer classes per client)"),
    Rule(
        "cv.folds",
        lambda v: v is None or (_is_int(v) and v >= 2),
        "null (one train/val split) or an integer >= 2",
        "e.g. cv.folds=5, or cv.folds=null to train once",
    ),
)


def _select(cfg: DictConfig, key: str) -> Any:
    try:
        return OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=False)
    except InterpolationResolutionError as e:
        # a value read from the data (e.g. a CSV's column count) names the file that is wrong
        if (cause := user_error_in(e)) is not None:
            raise cause from e
        raise


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
    ckpt, resume, mode = cfg.get("ckpt_path"), cfg.get("resume"), cfg.mode
    if ckpt is not None:
        check_checkpoint_file("ckpt_path", str(ckpt))
    if resume is not None:
        if ckpt is not None:
            raise ConfigError("resume", resume, "null when ckpt_path is set", "use one of the two")
        if resume != "latest":
            check_checkpoint_file("resume", str(resume))
    if mode.needs_checkpoint and ckpt is None and resume is None:
        raise ConfigError(
            "ckpt_path",
            None,
            f"a checkpoint file in mode={mode.name}",
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


def metric_names(cfg: DictConfig) -> list[str] | None:
    """Names the task logs per split, from its config: ``loss`` and the keys of
    ``model.metrics`` (a mapping of name -> metric node); None when the model declares none."""
    metrics = _select(cfg, "model.metrics")
    if metrics is _MISSING or metrics is None:
        return None
    if not isinstance(metrics, DictConfig) or not all(
        isinstance(v, DictConfig) and "_target_" in v for v in metrics.values()
    ):
        raise ConfigError(
            "model.metrics",
            OmegaConf.to_container(metrics) if OmegaConf.is_config(metrics) else metrics,
            "a mapping of name -> metric node with a _target_",
            "drop a metric with ~model.metrics.<name>; add one with "
            "+model.metrics.<name>={_target_:...}",
        )
    return ["loss", *(str(k) for k in metrics)]


def _check_metric_names(cfg: DictConfig) -> None:
    """The objective and ``model.train_metrics`` must name metrics the model computes."""
    names = metric_names(cfg)
    if names is None:
        return
    train = _select(cfg, "model.train_metrics")
    if train is not _MISSING and train is not None and any(n not in names[1:] for n in train):
        raise ConfigError(
            "model.train_metrics",
            list(train),
            f"names of model.metrics: {names[1:]}",
            f"e.g. model.train_metrics=[{names[1] if len(names) > 1 else ''}]",
        )
    metric = _select(cfg, "optimized_metric")
    split, _, name = str(metric).partition("/")
    if metric is not None and split in ("val", "test") and name not in names:
        raise ConfigError(
            "optimized_metric",
            metric,
            f"a metric the model computes: {', '.join(f'{split}/{n}' for n in names)}",
            f"optimise one of them, or add {name} to model.metrics",
        )


def _check_compare(cfg: DictConfig) -> None:
    if cfg.get("compare") is None:
        return
    pattern = str(cfg.compare.runs)
    if not glob.glob(os.path.expanduser(pattern), recursive=True):
        raise ConfigError(
            "compare.runs",
            pattern,
            "a glob matching run directories, sweep directories or metrics.json files",
            "e.g. compare.runs='outputs/<name>/multirun/<time>' (quote it in the shell)",
        )


def _check_reproduce(cfg: DictConfig) -> None:
    run = OmegaConf.select(cfg, "reproduce.run", default=None, throw_on_missing=False)
    if run is None or os.path.isfile(os.path.join(str(run), "config_resolved.yaml")):
        return
    found = "no such directory" if not os.path.isdir(str(run)) else "no config_resolved.yaml in it"
    raise ConfigError(
        "reproduce.run",
        str(run),
        f"the directory of a run, holding its config_resolved.yaml ({found})",
        "give a folder such as outputs/<name>/<time> or a sweep job's outputs/<name>/multirun/"
        "<time>/<job>",
    )


def _check_cv(cfg: DictConfig) -> None:
    """Cross-validation trains from scratch, and needs a dataset that splits folds."""
    folds = _select(cfg, "cv.folds")
    if folds in (None, _MISSING):
        return
    if cfg.mode.name != "train":
        raise ConfigError("cv.folds", folds, "null outside mode=train", "drop cv.folds")
    if cfg.get("ckpt_path") is not None or cfg.get("resume") is not None:
        key = "ckpt_path" if cfg.get("ckpt_path") is not None else "resume"
        raise ConfigError(key, cfg.get(key), "null with cv.folds (each fold trains anew)")
    if _select(cfg, "dataset.fold") is _MISSING:
        raise ConfigError(
            "cv.folds",
            folds,
            f"a dataset that splits folds ({cfg.dataset.get('_target_')} takes no "
            "dataset.folds/dataset.fold)",
            "use an in-memory dataset (digits, breast_cancer, mnist1d, csv, ...)",
        )


def _check_federated(cfg: DictConfig) -> None:
    if cfg.get("federated") is not None and _select(cfg, "dataset.partition") is _MISSING:
        raise ConfigError(
            "mode",
            "federated",
            f"a dataset that splits its rows among clients ({cfg.dataset.get('_target_')} "
            "takes no dataset.partition)",
            "use an in-memory dataset (digits, breast_cancer, mnist1d, csv, ...)",
        )


def validate(cfg: DictConfig) -> None:
    """Check ranges and references of a composed config; raise ConfigError on the first fault."""
    for rule in RULES:
        value = _select(cfg, rule.key)
        if value is not _MISSING and not rule.check(value):
            raise ConfigError(rule.key, value, rule.expected, rule.fix)
    _check_cv(cfg)
    _check_federated(cfg)
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
    _check_metric_names(cfg)
    _check_compare(cfg)
    _check_reproduce(cfg)
    groups = ("dataset", "model", "optimizer", "scheduler", "compression", "trainer", "logger")
    for group in (*groups, "callbacks"):
        if cfg.get(group) is not None:
            _check_targets(cfg[group], group)
