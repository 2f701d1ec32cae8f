"""The regression task's artefact: ``residuals.png`` of the test split.

Listed under ``callbacks`` in ``conf/model/_regressor.yaml``; reads the ``prediction`` and
``target`` that the module's ``test_step`` returns, from all ranks.
"""

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np

from src.callbacks.outputs import TestOutputs
from src.utils.plots import plt, save_figure


class ResidualPlot(pl.Callback):
    """``residuals.png``: residual (target - prediction) against the prediction, and the
    residuals' histogram, of every test sample (all outputs together when there are several).

    Args:
        output_dir: the run directory.
    """

    file = "residuals.png"

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.outputs = TestOutputs()

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.outputs.reset()

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, *args: Any
    ) -> None:
        self.outputs.add(outputs)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        columns = self.outputs.gather(trainer)
        if trainer.is_global_zero and columns:
            pred = columns["prediction"].float().numpy().ravel()
            target = columns["target"].float().numpy().ravel()
            self.output_dir.mkdir(parents=True, exist_ok=True)
            plot_residuals(pred, target, self.output_dir / self.file)


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
