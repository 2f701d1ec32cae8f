"""Finding the checkpoint a run resumes from."""

from pathlib import Path

from omegaconf import DictConfig

from src.errors import ConfigError


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
