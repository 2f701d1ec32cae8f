"""Rerun a run from its directory: ``python run.py mode=reproduce reproduce.run=<run dir>``.

The rerun uses the original's resolved config (``config_resolved.yaml``, what actually ran) with
its own output directory in place of the original's, so every file it writes lands in the new
run directory. Before it starts, every provenance field that differs from the original's is
printed (commit, uncommitted diff, library versions, machine, seeds, data fingerprints); at the
end, every final metric that differs. On the CPU with ``hardware.deterministic=true`` the
metrics are expected to be identical (tests/test_reproduce.py).
"""

import json
from pathlib import Path
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError
from rich.console import Console

from src.config.schema import Config
from src.config.validate import validate
from src.data import fingerprint
from src.errors import ConfigError, UserError
from src.experiments import build
from src.utils import provenance
from src.utils.checkpoints import resume_path, verify_checkpoint
from src.utils.runs import load_metrics

REPORT = "reproduction.json"


def reproduce(cfg: DictConfig) -> dict[str, Any]:
    """Rerun ``reproduce.run`` and say how its provenance and final metrics differ.

    Returns:
        The rerun's final metrics, plus ``metrics_differing`` (how many differ from the
        original's) and ``provenance_differing``.
    """
    original, out = Path(cfg.reproduce.run), Path(cfg.paths.output_dir)
    run_cfg = rerun_config(original, out)
    validate(run_cfg)
    before, now = provenance.read(original), provenance.capture(run_cfg)
    now.record["data"] = data_fingerprint(run_cfg, original)
    changed = provenance.differences(before, now.record)
    packages = provenance.package_differences(provenance.read_frozen(original), now.frozen_map)
    show(f"provenance of {original} and of this rerun", changed, packages)

    metrics = get_method(run_cfg.mode.entry)(run_cfg)

    differing = metric_differences(original, out)
    show(f"final metrics of {original} and of this rerun", differing)
    write_report(out / REPORT, original, changed, packages, differing)
    return metrics | {
        "metrics_differing": len(differing),
        "provenance_differing": len(changed) + len(packages),
    }


def rerun_config(original: Path, out: Path) -> DictConfig:
    """The original's resolved config with ``out`` in place of its output directory, checked
    against the current config schema (a key that no longer exists is named)."""
    saved = OmegaConf.to_container(OmegaConf.load(original / "config_resolved.yaml"))
    if not isinstance(saved, dict) or not isinstance(saved.get("paths"), dict):
        raise ConfigError(
            "reproduce.run",
            str(original),
            "a run directory whose config_resolved.yaml holds a run's config (paths.output_dir)",
            "point it at a run directory written by python run.py",
        )
    old_out = str(saved["paths"]["output_dir"])
    saved = _rebase(saved, old_out, str(out))
    saved["optuna"] = None  # a sweep trial's rerun reports to no study
    try:
        return OmegaConf.merge(OmegaConf.structured(Config), saved)  # type: ignore[return-value]
    except (ConfigKeyError, ValidationError) as e:
        raise ConfigError(
            str(e.full_key),
            getattr(e, "value", None),
            "a key and value of the current config schema (src/config/schema.py)",
            f"the config of {original} no longer composes with this code: check out its "
            f"commit ({_commit(original)}) to rerun it, or edit its config_resolved.yaml",
        ) from e


def _rebase(node: Any, old: str, new: str) -> Any:
    """Every string equal to or under ``old`` (a path in the original run directory) moved
    under ``new``."""
    if isinstance(node, dict):
        return {k: _rebase(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v, old, new) for v in node]
    if isinstance(node, str) and (node == old or node.startswith(old.rstrip("/") + "/")):
        return new + node[len(old) :]
    return node


def _commit(run_dir: Path) -> str:
    git = provenance.read(run_dir).get("git") or {}
    return str(git.get("commit") or "not recorded")


def data_fingerprint(cfg: DictConfig, original: Path) -> dict[str, str]:
    """Load the data as the rerun will (with a checkpoint's preprocessing where the mode reads
    one) and digest each split: a changed data file shows before training starts."""
    checkpoint = verify_checkpoint(resume_path(cfg)) if cfg.mode.needs_checkpoint else {}
    stage = "predict" if cfg.mode.name == "predict" else "fit"
    try:
        datamodule = build.datamodule(cfg, checkpoint)
        datamodule.prepare_data()
        datamodule.setup(stage)
    except UserError as e:
        raise UserError(
            f"reproduce.run={str(original)!r}: the run's data cannot be loaded any more: {e} "
            "(the data are not saved in a run directory; restore them at the path of its "
            "config_resolved.yaml, dataset.*)"
        ) from e
    return fingerprint.of_datamodule(datamodule, stage)


def metric_differences(original: Path, rerun: Path) -> dict[str, tuple[Any, Any]]:
    """``{metric: (original, rerun)}`` for every entry of metrics.json that differs (paths
    compared relative to each run directory; ``run_dir`` left out)."""
    if not (original / "metrics.json").is_file():
        return {"metrics.json": ("missing (the original run did not finish)", "written")}
    old, new = load_metrics(original), load_metrics(rerun)
    keys = [k for k in dict.fromkeys([*old, *new]) if k != "run_dir"]
    return {k: (old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)}


def show(
    title: str,
    differing: dict[str, tuple[Any, Any]],
    packages: dict[str, tuple[Any, Any]] | None = None,
) -> None:
    """One line per difference, ``key: original -> rerun``; one line when there is none."""
    console = Console(highlight=False, soft_wrap=True)  # one line per difference, unwrapped
    lines = [f"  {k}: {a} -> {b}" for k, (a, b) in differing.items()]
    if packages:
        shown = [f"{k} {a} -> {b}" for k, (a, b) in list(packages.items())[:10]]
        more = f" and {len(packages) - 10} more" if len(packages) > 10 else ""
        lines.append(f"  installed packages ({len(packages)}): {', '.join(shown)}{more}")
    if lines:
        console.print(f"{title} differ:", *lines, sep="\n", markup=False)
    else:
        console.print(f"{title}: identical", markup=False)


def write_report(
    path: Path,
    original: Path,
    changed: dict[str, tuple[Any, Any]],
    packages: dict[str, tuple[Any, Any]],
    metrics: dict[str, tuple[Any, Any]],
) -> None:
    """``reproduction.json``: the original run and every difference, as [original, rerun]."""
    report = {
        "original": str(original.resolve()),
        "provenance_differences": changed,
        "package_differences": packages,
        "metric_differences": metrics,
    }
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
