"""The regression task's artefact: ``residuals.png`` of the test split.

Listed under ``callbacks`` in ``conf/model/_regressor.yaml``; reads the ``prediction`` and
``target`` that the module's ``test_step`` returns, from all ranks.
"""

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from src.callbacks.outputs import TestArtefact
from src.utils.plots import plt, save_figure


class ResidualPlot(TestArtefact):
    """``residuals.png``: residual (target - prediction) against the prediction, and the
    residuals' histogram, of every test sample (all outputs together when there are several).
    """

    file = "residuals.png"

    def draw(
        self, columns: dict[str, torch.Tensor], pl_module: pl.LightningModule, path: Path
    ) -> None:
        pred = columns["prediction"].float().numpy().ravel()
        target = columns["target"].float().numpy().ravel()
        plot_residuals(pred, target, path)


def plot_residuals(pred: np.ndarray, target: np.ndarray, path: Path) -> Path:
    """Scatter of residual vs prediction (zero line drawn) beside a histogram of residuals."""
    residual = target - pred
    fig, (scatter, hist) = plt.subplots(1, 2, figsize=(9, 3.8))
    scatter.scatter(pred, residual, s=8, alpha=0.6)
    scatter.axhline(0.0, color="k", lw=0.8, ls="--")
    scatter.set(xlabel="prediction", ylabel="target - prediction", title="residuals (test)")
    hist.hist(residual, bins=min(50, max(5, len(residual) // 5)))
    rmse = float(np.sqrt(np.mean(residual**2))) if len(residual) else float("nan")
    hist.set(xlabel="target - prediction", ylabel="samples", title=f"RMSE {rmse:.4g}")
    return save_figure(fig, path)
