"""The per-sample tensors a task's ``test_step`` returns, gathered from every rank.

Task callbacks that draw or report on the whole test split (a confusion matrix, sample grids,
ranking reports) hold one :class:`TestOutputs` and read :attr:`TestOutputs.columns` in
``on_test_epoch_end`` on rank 0; :class:`TestArtefact` does that for one file per run.
"""

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from src.hardware.distributed import gather_split


class TestOutputs:
    """Collects the dict of per-sample tensors of every test batch of this rank."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self._batches: list[dict[str, torch.Tensor]] = []

    def reset(self) -> None:
        self._batches.clear()

    def add(self, outputs: Any) -> None:
        if isinstance(outputs, dict):
            self._batches.append({k: v.detach().cpu() for k, v in outputs.items()})

    def gather(self, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
        """Every rank's rows, in the split's order (a collective: call it on every rank)."""
        if not self._batches:
            return {}
        keys = self._batches[0]
        return {k: gather_split(trainer, torch.cat([b[k] for b in self._batches])) for k in keys}


class TestArtefact(pl.Callback):
    """Writes ``<output_dir>/<file>`` from every rank's test outputs, on rank 0.

    Subclasses name the ``file`` and :meth:`draw` it from the gathered columns.

    Args:
        output_dir: the run directory.
    """

    __test__ = False  # not a pytest class
    file = ""

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
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self.draw(columns, pl_module, self.output_dir / self.file)

    def draw(
        self, columns: dict[str, torch.Tensor], pl_module: pl.LightningModule, path: Path
    ) -> None:
        raise NotImplementedError
