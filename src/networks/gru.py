"""GRU (or LSTM) sequence classifier."""

import math

import torch
from torch import nn

from src.errors import ConfigError
from src.networks.checks import require_dims

CELLS: dict[str, type[nn.GRU] | type[nn.LSTM]] = {"gru": nn.GRU, "lstm": nn.LSTM}


def recurrent(
    cell: str, features: int, hidden_size: int, num_layers: int, dropout: float, bidirectional: bool
) -> nn.GRU | nn.LSTM:
    """A batch-first ``model.net.cell`` (gru or lstm) stack; dropout between layers only."""
    if cell not in CELLS:
        raise ConfigError("model.net.cell", cell, f"one of {list(CELLS)}")
    return CELLS[cell](
        features,
        hidden_size,
        num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
    )


class GRUClassifier(nn.Module):
    """Reads the last input axis as time and classifies from the final hidden states.

    A signal (C, T) is T steps of C features; an image (C, H, W) is H steps of C*W features.

    Args:
        input_shape: shape of one sample, at least 2-D.
        num_outputs: logits per sample.
        hidden_size: GRU state width.
        num_layers: stacked GRU layers.
        bidirectional: also read the sequence backwards.
        dropout: dropout between GRU layers and before the head.
        cell: ``gru`` or ``lstm``.
    """

    def __init__(
        self,
        input_shape: list[int],
        num_outputs: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        cell: str = "gru",
    ) -> None:
        super().__init__()
        if len(input_shape) < 2:  # rows of features have no time axis
            require_dims(input_shape, 2, "the GRU", "model=mlp")
        self.image = len(input_shape) == 3
        features = input_shape[0] * input_shape[2] if self.image else math.prod(input_shape[:-1])
        self.gru = recurrent(cell, features, hidden_size, num_layers, dropout, bidirectional)
        directions = 2 if bidirectional else 1
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(directions * hidden_size, num_outputs)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) -> (B, H, C*W); (B, C, T) -> (B, T, C)
        seq = x.permute(0, 2, 1, 3).flatten(2) if self.image else x.flatten(1, -2).transpose(1, 2)
        _, h = self.gru(seq)  # h: (layers * directions, B, hidden); LSTM: (h, c)
        h = h[0] if isinstance(h, tuple) else h
        last = h.view(self.gru.num_layers, -1, h.shape[1], h.shape[2])[-1]  # (directions, B, H)
        return self.head(last.transpose(0, 1).flatten(1))
