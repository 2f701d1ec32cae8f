"""What a run leaves behind and prints: resolved config, metrics.json, plots, summary."""

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
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
    path = out / "metrics.json"
    path.write_text(json.dumps(dict(metrics), indent=2, sort_keys=True))
    return path


def write_plots(
    out: Path, history: list[dict[str, float]], test_outputs: Any, class_names: list[str]
) -> list[Path]:
    """learning_curves.png, and confusion_matrix.png and roc_curve.png from test predictions."""
    written = []
    if history and (p := plots.learning_curves(history, out / "learning_curves.png")):
        written.append(p)
    if test_outputs:
        probs = np.concatenate([p.float().numpy() for p, _ in test_outputs])
        target = np.concatenate([t.numpy() for _, t in test_outputs])
        written.append(plots.confusion(probs, target, class_names, out / "confusion_matrix.png"))
        written.append(plots.roc(probs, target, class_names, out / "roc_curve.png"))
    return written


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
