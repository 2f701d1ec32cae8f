"""PNG plots of a comparison: overlaid learning curves and a metric-vs-param scatter."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from src.utils.plots import save_figure
from src.utils.runs import Run


def curves(runs: list[Run], metrics: list[str], params: list[str], path: Path) -> Path | None:
    """One panel per metric, one line per run, labelled by run and the values of ``params``."""
    metrics = [m for m in metrics if any(m in row for r in runs for row in r.curves)]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for r in runs:
            pts = [(row["epoch"], row[metric]) for row in r.curves if metric in row]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=_legend(r, params))
        ax.set(title=metric, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="best")
    return save_figure(fig, path)


def scatter(runs: list[Run], params: list[str], metric: str, path: Path) -> Path | None:
    """``metric`` against each param; numeric params on a (log, if wide) numeric axis."""
    if not params:
        return None
    fig, axes = plt.subplots(1, len(params), figsize=(4.5 * len(params), 3.8), squeeze=False)
    for ax, param in zip(axes[0], params, strict=True):
        pts = [(r.params.get(param, ""), r.metrics[metric]) for r in runs if metric in r.metrics]
        xs = [x for x, _ in pts]
        numeric = [_number(x) for x in xs]
        if all(v is not None for v in numeric):
            ax.scatter(numeric, [y for _, y in pts])
            positive = [v for v in numeric if v is not None and v > 0]
            if len(positive) == len(numeric) and max(positive) / min(positive) >= 10:
                ax.set_xscale("log")
        else:
            categories = list(dict.fromkeys(xs))
            ax.scatter([categories.index(x) for x in xs], [y for _, y in pts])
            ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
        ax.set(xlabel=param, ylabel=metric, title=f"{metric} vs {param}")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _legend(run: Run, params: list[str]) -> str:
    values = ", ".join(f"{k}={run.params.get(k, '')}" for k in params)
    return f"{run.label}: {values}"[:70] if values else run.label
