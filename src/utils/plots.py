"""Learning curves of every logged epoch scalar, and the figure helper task plots share."""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

__all__ = ["learning_curves", "plt", "save_figure"]
SPLITS = ("train", "val", "test")


def learning_curves(rows: list[dict[str, float]], path: Path, columns: int = 4) -> Path | None:
    """One panel per logged metric, a line per split (``train/loss`` and ``val/loss`` share
    the panel ``loss``), against the epoch; metrics without a split (``perf/...``, ``lr-*``)
    get a panel each."""
    panels: dict[str, list[str]] = {}
    for key in dict.fromkeys(k for r in rows for k in r if k != "epoch"):
        split, _, name = key.partition("/")
        panels.setdefault(name if split in SPLITS and name else key, []).append(key)
    if not panels:
        return None
    ncols = min(columns, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, (title, keys) in zip(axes.flat, panels.items(), strict=False):
        for key in keys:
            pts = [(r["epoch"], r[key]) for r in rows if key in r]
            ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=key.split("/", 1)[0])
        ax.set(title=title, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if title != keys[0]:  # a metric per split: say which line is which
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    return save_figure(fig, path)


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` (PNG) and free it."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
