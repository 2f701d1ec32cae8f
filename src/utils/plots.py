"""PNG plots written into the run directory at the end of a run."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import auc, confusion_matrix, roc_curve


def learning_curves(rows: list[dict[str, float]], path: Path) -> Path | None:
    """One panel per metric (loss, acc, ...) with a line per split, against the epoch."""
    names = sorted(
        {k.split("/", 1)[1] for r in rows for k in r if k.startswith(("train/", "val/"))}
    )
    names = [n for n in names if n in ("loss", "acc", "f1", "auroc")]
    if not rows or not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for split in ("train", "val"):
            pts = [(r["epoch"], r[f"{split}/{name}"]) for r in rows if f"{split}/{name}" in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=split)
        ax.set(title=name, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def confusion(probs: np.ndarray, target: np.ndarray, class_names: list[str], path: Path) -> Path:
    """Confusion matrix of the arg-max predictions, counts annotated, rows = true class."""
    pred = (probs > 0.5).astype(int) if probs.ndim == 1 else probs.argmax(1)
    cm = confusion_matrix(target, pred, labels=range(len(class_names)))
    size = max(4.0, 0.5 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ticks = range(len(class_names))
    ax.set(
        xticks=ticks,
        yticks=ticks,
        xticklabels=class_names,
        yticklabels=class_names,
        xlabel="predicted",
        ylabel="true",
        title="confusion matrix (test)",
    )
    for i, j in np.ndindex(cm.shape):
        ax.text(
            j,
            i,
            str(cm[i, j]),
            ha="center",
            va="center",
            color="white" if cm[i, j] > cm.max() / 2 else "black",
            fontsize=8,
        )
    return _save(fig, path)


def roc(probs: np.ndarray, target: np.ndarray, class_names: list[str], path: Path) -> Path:
    """ROC curve (binary) or one-vs-rest curves per class (multiclass), AUC in the legend."""
    fig, ax = plt.subplots(figsize=(5, 5))
    columns = (
        [(class_names[-1], probs)]
        if probs.ndim == 1
        else list(zip(class_names, probs.T, strict=True))
    )
    for i, (name, score) in enumerate(columns):
        positive = target == (1 if probs.ndim == 1 else i)
        if positive.all() or not positive.any():
            continue  # ROC undefined for a class absent from (or alone in) the test split
        fpr, tpr, _ = roc_curve(positive, score)
        ax.plot(fpr, tpr, lw=1.2, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
