"""What mode=explain draws: image overlays, signal and table bar charts, highlighted tokens."""

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from src.utils.plots import plt, save_figure

Attributions = Mapping[str, torch.Tensor]  # method -> (N, ...) like the input


def image_overlays(x: torch.Tensor, attributions: Attributions, title: str, path: Path) -> Path:
    """One sample (C, H, W): the image, then per method its |attribution| (summed over
    channels, scaled to [0, 1]) over the image in grey."""
    gray = x.float().mean(0)  # (H, W)
    fig, axes = plt.subplots(1, 1 + len(attributions), figsize=(2.4 * (1 + len(attributions)), 2.6))
    axes[0].imshow(gray, cmap="gray")
    axes[0].set_title(title, fontsize=8)
    for ax, (method, attr) in zip(axes[1:], attributions.items(), strict=True):
        heat = attr.abs().sum(0)
        ax.imshow(gray, cmap="gray")
        ax.imshow(heat / heat.max().clamp(min=1e-12), cmap="inferno", alpha=0.6, vmin=0, vmax=1)
        ax.set_title(method.replace("_", " "), fontsize=8)
    for ax in axes:
        ax.axis("off")
    return save_figure(fig, path)


def signal_overlays(x: torch.Tensor, attributions: Attributions, title: str, path: Path) -> Path:
    """One sample (C, L): the signal, then per method its attribution along the signal."""
    fig, axes = plt.subplots(1 + len(attributions), 1, figsize=(6, 1.6 * (1 + len(attributions))))
    axes[0].plot(x.float().T)
    axes[0].set_title(title, fontsize=8)
    for ax, (method, attr) in zip(axes[1:], attributions.items(), strict=True):
        ax.bar(range(attr.shape[-1]), attr.sum(0), width=1.0)
        ax.set_ylabel(method.replace("_", "\n"), fontsize=7)
    return save_figure(fig, path)


def feature_bars(
    attributions: Attributions, names: Sequence[str], top_k: int, title: str, path: Path
) -> Path:
    """One row (or a global importance per feature): per method, its ``top_k`` features by
    |attribution|, signed (positive: evidence for the explained class)."""
    fig, axes = plt.subplots(
        1, len(attributions), figsize=(4.2 * len(attributions), 0.3 * top_k + 1.2)
    )
    axes = [axes] if len(attributions) == 1 else list(axes)
    for ax, (method, attr) in zip(axes, attributions.items(), strict=True):
        top = attr.abs().argsort(descending=True)[:top_k].flip(0)
        values = attr[top]
        ax.barh(
            [names[i] for i in top],
            values,
            color=["tab:red" if v < 0 else "tab:blue" for v in values],
        )
        ax.set_title(method.replace("_", " "), fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def token_html(rows: Sequence[tuple[str, Sequence[str], torch.Tensor]], path: Path) -> Path:
    """``rows`` of (title, tokens, scores (T,)): each token's background red (against the
    class) or green (for it), as strong as its share of the row's largest |score|."""
    parts = ["<html><head><meta charset='utf-8'><title>token attributions</title></head><body>"]
    for title, tokens, scores in rows:
        peak = float(scores.abs().max().clamp(min=1e-12))
        spans = []
        for token, score in zip(tokens, scores.tolist(), strict=True):
            alpha = abs(score) / peak
            color = f"rgba(0,160,0,{alpha:.2f})" if score > 0 else f"rgba(220,0,0,{alpha:.2f})"
            tip = f"{score:.4f}"
            spans.append(
                f"<span style='background:{color}' title='{tip}'>{html.escape(token)}</span>"
            )
        parts.append(f"<p><b>{html.escape(title)}</b><br>{' '.join(spans)}</p>")
    path.write_text("\n".join([*parts, "</body></html>"]))
    return path


def deletion_curves(curves: Mapping[str, Sequence[float]], path: Path) -> Path:
    """Probability of the predicted class against the fraction of values deleted."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for name in ("top", "random"):
        label = "most attributed first" if name == "top" else "at random"
        ax.plot(curves["fractions"], curves[name], marker="o", label=label)
    ax.set(xlabel="fraction of input deleted", ylabel="p(predicted class)", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
