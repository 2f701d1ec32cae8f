"""The robustness curve: accuracy against the attack budget, one line per attack."""

from pathlib import Path

from src.utils.plots import plt, save_figure


def robustness_curves(
    curves: dict[str, list[tuple[float, float]]], clean: float, path: Path
) -> Path:
    """``curves``: attack name -> [(epsilon, accuracy)]; the clean accuracy as a dashed line."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, points in curves.items():
        ax.plot(*zip(*points, strict=True), marker="o", label=name.upper())
    ax.axhline(clean, ls="--", c="gray", label="clean")
    ax.set(xlabel="epsilon (input units)", ylabel="accuracy", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)
