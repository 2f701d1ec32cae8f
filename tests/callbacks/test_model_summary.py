"""model_summary.txt/.json: layers, the shapes of the first batch through them, parameters."""

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import lightning.pytorch as pl
import torch
from torch import nn

from src.callbacks.model_summary import ModelSummaryFile


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3))
        self.unused = nn.Linear(2, 2)  # never called on a batch: left out of the layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_the_first_batch_writes_layers_shapes_and_parameter_counts(tmp_path: Path) -> None:
    module, callback = _Tiny(), ModelSummaryFile(str(tmp_path), max_depth=2)
    trainer = cast(Any, SimpleNamespace(is_global_zero=True))
    callback.on_train_batch_start(trainer, module)
    module(torch.zeros(5, 1, 8, 8))
    callback.on_train_batch_end(trainer, module)
    module(torch.zeros(7, 1, 8, 8))  # later batches change nothing
    info = json.loads((tmp_path / "model_summary.json").read_text())
    assert list(info["layers"]) == ["net", "net.0", "net.1", "net.2", "net.3"]
    assert info["layers"]["net.0"] == {
        "type": "Conv2d",
        "params": 40,
        "input_shapes": [[5, 1, 8, 8]],
        "output_shape": [5, 4, 6, 6],
    }
    assert info["parameters"] == 40 + 144 * 3 + 3 + 6
    text = (tmp_path / "model_summary.txt").read_text()
    assert "net.3  Linear" in text and "481 parameters (481 trainable)" in text
