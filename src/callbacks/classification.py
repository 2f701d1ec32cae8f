"""The classification task's artefacts: confusion matrix and ROC curves of the test split.

Listed under ``callbacks`` in ``conf/model/_classifier.yaml``; the module hands them to the
trainer (``configure_callbacks``). Each reads the ``probs`` and ``target`` that the module's
``test_step`` returns, from all ranks, and writes a PNG into the run directory (which the
W&B logger uploads with the run's other PNGs).
"""

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from src.callbacks.outputs import TestArtefact
from src.utils.plots import plt, save_figure


class _TestPlot(TestArtefact):
    def draw(
        self, columns: dict[str, torch.Tensor], pl_module: pl.LightningModule, path: Path
    ) -> None:
        probs, target = columns["probs"].float().numpy(), columns["target"].numpy()
        names = getattr(pl_module, "class_names", None) or _default_names(probs)
        self.plot(probs, target, names, path)

    def plot(self, probs: np.ndarray, target: np.ndarray, names: list[str], path: Path) -> Path:
        raise NotImplementedError


def _default_names(probs: np.ndarray) -> list[str]:
    return ["0", "1"] if probs.ndim == 1 else [str(i) for i in range(probs.shape[1])]


class ConfusionMatrixPlot(_TestPlot):
    """``confusion_matrix.png``: counts of (true, predicted) class over the test split."""

    file = "confusion_matrix.png"

    def plot(self, probs: np.ndarray, target: np.ndarray, names: list[str], path: Path) -> Path:
        from sklearn.metrics import confusion_matrix

        pred = (probs > 0.5).astype(int) if probs.ndim == 1 else probs.argmax(1)
        cm = confusion_matrix(target, pred, labels=range(len(names)))
        size = max(4.0, 0.5 * len(names) + 2)
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(cm, cmap="Blues")
        ticks = range(len(names))
        ax.set(xticks=ticks, yticks=ticks, xticklabels=names, yticklabels=names)
        ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (test)")
        for i, j in np.ndindex(cm.shape):
            color = "white" if cm[i, j] > cm.max() / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color, fontsize=8)
        return save_figure(fig, path)


class RocCurvePlot(_TestPlot):
    """``roc_curve.png``: the ROC curve (binary) or one-vs-rest curves per class, AUC in the
    legend; a class absent from (or alone in) the test split has no curve."""

    file = "roc_curve.png"

    def plot(self, probs: np.ndarray, target: np.ndarray, names: list[str], path: Path) -> Path:
        from sklearn.metrics import auc, roc_curve

        fig, ax = plt.subplots(figsize=(5, 5))
        binary = probs.ndim == 1
        columns = [(names[-1], probs)] if binary else list(zip(names, probs.T, strict=True))
        for i, (name, score) in enumerate(columns):
            positive = target == (1 if binary else i)
            if positive.all() or not positive.any():
                continue
            fpr, tpr, _ = roc_curve(positive, score)
            ax.plot(fpr, tpr, lw=1.2, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
        ax.legend(fontsize=7, loc="lower right")
        return save_figure(fig, path)
