"""Finding the checkpoint a run resumes from, and checking that it fits the model."""

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import lightning
import lightning.pytorch as pl
import torch
import yaml
from omegaconf import DictConfig
from torchmetrics import Metric

from src.config.checkpoint_file import FIX, file_problem, fix_for
from src.errors import ConfigError, UserError


def latest_checkpoint(log_dir: str, name: str, exclude: str | None = None) -> Path | None:
    """Newest ``checkpoints/last.ckpt`` of an earlier run or multirun job of ``name``."""
    found = [
        p
        for p in Path(log_dir, name).glob("**/checkpoints/last.ckpt")
        if exclude is None or Path(exclude).resolve() not in p.resolve().parents
    ]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def resume_path(cfg: DictConfig) -> str | None:
    """The checkpoint of ``ckpt_path`` or found by ``resume=latest``; None for a fresh run."""
    if cfg.resume is None:
        return cfg.ckpt_path
    if cfg.resume != "latest":
        return str(cfg.resume)
    path = latest_checkpoint(cfg.paths.log_dir, cfg.name, exclude=cfg.paths.output_dir)
    if path is None:
        raise ConfigError(
            "resume",
            "latest",
            f"an earlier run of '{cfg.name}' with checkpoints/last.ckpt under "
            f"{Path(cfg.paths.log_dir, cfg.name)}",
            "run it once without resume, or give ckpt_path=<file>",
        )
    return str(path)


# what Lightning reads from every checkpoint it loads, and also when it resumes training
LIGHTNING_KEYS = ("state_dict", "epoch", "global_step", "pytorch-lightning_version")
RESUME_KEYS = ("optimizer_states", "lr_schedulers")
# overrides of the run that wrote a checkpoint that decide its tensors' names and shapes
RUN_GROUPS = ("model", "dataset", "experiment")
SHOWN = 2  # mismatching tensors named per kind (missing, unexpected, shape); the rest counted


def verify_checkpoint(
    path: str | os.PathLike[str] | None,
    module: pl.LightningModule | None = None,
    *,
    resume: bool = False,
) -> dict[str, Any]:
    """Load ``path`` on the CPU and check that Lightning can restore ``module`` from it.

    Called by the entries right after building the module, so that a file that is not a
    checkpoint, or a checkpoint of another model or data set, fails with one line naming the
    file instead of a traceback from deep inside Lightning. The tensors are memory-mapped, so
    this reads little more than the file's index.

    Args:
        path: the checkpoint; None (a fresh run) checks nothing.
        module: the module the run builds; its state_dict keys and shapes must match.
        resume: training continues from it, so it must hold optimizer and scheduler states.

    Returns:
        The loaded checkpoint ({} for None, or for a sharded FSDP directory, not checked here).

    Raises:
        UserError: naming the file, what is wrong with it and the fix.
    """
    if path is None:
        return {}
    path = os.fspath(path)
    problem = file_problem(path)
    if problem is not None:
        raise UserError(f"checkpoint '{path}' {problem}. Fix: {fix_for(path)}")
    if Path(path).is_dir():  # FSDP shards: Lightning checks them while it loads them
        return {}
    checkpoint = _load(path)
    _check_format(path, checkpoint, resume)
    if module is not None:
        _check_fits(path, checkpoint["state_dict"], module)
    return checkpoint


def _load(path: str) -> Any:
    # weights_only=None: torch's default, as in Lightning's own load (True unless
    # TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1), so that what it would refuse is refused here first
    try:
        return torch.load(
            path, map_location="cpu", mmap=zipfile.is_zipfile(path), weights_only=None
        )
    except MemoryError:
        raise
    except Exception as e:  # whatever unpickling a damaged or foreign file raises
        problem, fix = _load_problem(e)
        raise UserError(f"checkpoint '{path}' {problem}. Fix: {fix}") from e


def _load_problem(e: Exception) -> tuple[str, str]:
    text = str(e)
    unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", text)  # weights_only refused it
    if unsafe:
        return (
            f"holds a pickled {unsafe.group(1)}, which torch.load does not unpickle by default",
            "if you trust the file, rerun with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (it lets the "
            "file run code while it loads)",
        )
    if isinstance(e, ImportError | AttributeError):  # No module named .., Can't get attribute
        return f"was pickled with classes that are not installed here ({e})", FIX
    reason = re.search(r"WeightsUnpickler error:\s*(.+)", text)  # the rest is torch's advice
    detail = reason.group(1) if reason else " ".join(f"{type(e).__name__}: {text}".split())
    return f"is damaged or not a torch checkpoint (torch.load: {detail[:200]})", FIX


def _check_format(path: str, checkpoint: Any, resume: bool) -> None:
    """A dict with the keys Lightning reads, written by a Lightning no newer than this one."""
    problem, fix = _format_problem(checkpoint, resume), FIX
    if problem is None:
        problem, fix = _version_problem(checkpoint)
    if problem is not None:
        raise UserError(f"checkpoint '{path}' {problem}. Fix: {fix}")


def _format_problem(checkpoint: Any, resume: bool) -> str | None:
    if not isinstance(checkpoint, dict):
        return f"holds a {type(checkpoint).__name__}, not a Lightning checkpoint (a dict)"
    keys = [str(k) for k in checkpoint]
    if keys and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return (
            f"is a bare state_dict ({len(keys)} tensors such as {keys[0]!r}), not a Lightning "
            "checkpoint (it would hold it under 'state_dict', with epoch and global_step)"
        )
    missing = [k for k in LIGHTNING_KEYS if k not in checkpoint]
    if missing:
        return (
            f"is not a Lightning checkpoint: it lacks {', '.join(missing)} "
            f"(its keys: {', '.join(keys[:6]) or 'none'}{', ...' if len(keys) > 6 else ''})"
        )
    if not isinstance(checkpoint["state_dict"], dict):
        return f"has a state_dict of type {type(checkpoint['state_dict']).__name__}, not a dict"
    if resume and any(k not in checkpoint for k in RESUME_KEYS):
        return (
            "holds only the weights (saved with save_weights_only=True), without the optimizer "
            "and scheduler states that resuming needs; test it with mode=eval, or resume from "
            "a full checkpoint such as last.ckpt"
        )
    return None


def _version_problem(checkpoint: dict[str, Any]) -> tuple[str | None, str]:
    """A checkpoint of a newer major Lightning may hold what this one cannot restore."""
    written, installed = str(checkpoint["pytorch-lightning_version"]), lightning.__version__
    try:
        newer = int(written.split(".")[0]) > int(installed.split(".")[0])
    except ValueError:
        return f"has pytorch-lightning_version={written!r}, not a version number", FIX
    if newer:
        return (
            f"was written by Lightning {written}, newer than the installed {installed}",
            f"install lightning=={written} to load it",
        )
    return None, FIX


def _check_fits(path: str, state: dict[str, Any], module: pl.LightningModule) -> None:
    """The checkpoint's tensors have the names and shapes of the module's (strict loading)."""
    expected = module.state_dict()
    shapes = [
        f"{k} {_shape(state[k])} vs {_shape(v)}"
        for k, v in expected.items()
        if k in state and _shape(state[k]) != _shape(v)
    ]
    missing, unexpected = [], []
    if module.strict_loading:  # else Lightning loads what matches and leaves the rest
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected and not _held(module, k)]
    kinds = {
        "of another shape (checkpoint vs model)": shapes,
        "missing from the checkpoint": missing,
        "unexpected": unexpected,
    }
    listed = "; ".join(f"{len(keys)} {what}: {_few(keys)}" for what, keys in kinds.items() if keys)
    if listed:
        raise UserError(
            f"checkpoint '{path}' does not fit the model ({type(module).__name__}): tensors "
            f"{listed}. Fix: {_same_config_fix(path)}"
        )


def _few(keys: list[str]) -> str:
    more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def _shape(value: Any) -> list[int] | None:
    return list(value.shape) if isinstance(value, torch.Tensor) else None


def _held(module: pl.LightningModule, key: str) -> bool:
    """Whether ``key`` is a state of a torchmetrics metric in the module: such a metric takes its
    states from a checkpoint whether or not it persists them, so they are never unexpected."""
    owner, _, name = key.rpartition(".")
    try:
        metric = module.get_submodule(owner)
    except AttributeError:
        return False
    return isinstance(metric, Metric) and hasattr(metric, name)


def _same_config_fix(path: str) -> str:
    """Point at the config of the run that wrote the checkpoint (``<run>/checkpoints/x.ckpt``)."""
    run_dir = Path(path).resolve().parent.parent
    fix = "use the same model and dataset config as the run that wrote it"
    overrides = run_dir / ".hydra" / "overrides.yaml"
    if overrides.is_file():
        items = yaml.safe_load(overrides.read_text()) or []
        groups = [str(o) for o in items if str(o).lstrip("+~").startswith(RUN_GROUPS)]
        fix += f": it ran with {' '.join(groups)}" if groups else ": it ran with the default ones"
    config = run_dir / "config_resolved.yaml"
    where = str(config) if config.is_file() else "its config_resolved.yaml, next to checkpoints/"
    return f"{fix} (see {where})"
