"""What a run leaves behind and prints: resolved config, metrics.json, plots, summary."""

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

from src.utils import plots

log = logging.getLogger(__name__)
_TREE_ORDER = (
    "dataset",
    "model",
    "optimizer",
    "scheduler",
    "compression",
    "hardware",
    "trainer",
    "callbacks",
    "logger",
    "paths",
)


def save_config(cfg: DictConfig, out: Path) -> Path:
    """Write the fully resolved config (what actually ran) to ``config_resolved.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config_resolved.yaml"
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path


def print_config(cfg: DictConfig) -> None:
    """Rich tree of the resolved config, one branch per group."""
    tree = Tree("config", guide_style="dim")
    keys = [k for k in _TREE_ORDER if k in cfg] + [k for k in cfg if k not in _TREE_ORDER]
    for key in keys:
        value = cfg[key]
        text = OmegaConf.to_yaml(value, resolve=True) if OmegaConf.is_config(value) else str(value)
        tree.add(f"[bold]{key!s}[/]").add(Syntax(text.rstrip(), "yaml", background_color="default"))
    Console().print(tree)


def write_metrics(out: Path, metrics: Mapping[str, Any]) -> Path:
    """``metrics.json``; paths inside ``out`` are written relative to it (the run directory is
    ``.``), so that a moved or copied run directory still names its own files."""
    path = out / "metrics.json"
    portable = {k: relative_to_run(v, out) for k, v in metrics.items()}
    path.write_text(json.dumps(portable, indent=2, sort_keys=True))
    return path


def relative_to_run(value: Any, out: Path) -> Any:
    """``value`` relative to ``out`` when it is a path string inside it, else unchanged."""
    if not isinstance(value, str) or not value or not Path(value).exists():
        return value
    path, run = Path(value).resolve(), out.resolve()
    if path != run and run not in path.parents:
        return value
    return path.relative_to(run).as_posix() if path != run else "."


def finish(metrics: Mapping[str, Any], curves: list[dict[str, float]], out: Path) -> None:
    """What every entry leaves (rank 0): metrics.json, learning curves of every logged epoch
    scalar, the summary table. Task artefacts come from the task's callbacks."""
    write_metrics(out, metrics)
    if curves:
        plots.learning_curves(curves, out / "learning_curves.png")
    print_summary("final metrics", metrics, out)


def print_summary(title: str, metrics: Mapping[str, Any], out: Path) -> None:
    """A table of the split metrics, then the run directory."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    console = Console()
    console.print(table)
    console.print(f"run directory: [bold]{out}[/]")
