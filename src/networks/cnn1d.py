"""1-D convolutional network for signals."""

import torch
from torch import nn

from src.networks.checks import require_dims


class CNN1D(nn.Module):
    """[conv1d -> (BN) -> GELU] blocks (stride 2 after the first), global average pool, head.

    Args:
        input_shape: (C, T) of one signal.
        num_outputs: logits per sample.
        channels: output channels of each conv block.
        kernel_size: temporal kernel size (odd).
        dropout: dropout before the head.
        batchnorm: batch norm after each convolution.
    """

    def __init__(
        self,
        input_shape: list[int],
        num_outputs: int,
        channels: list[int],
        kernel_size: int = 5,
        dropout: float = 0.0,
        batchnorm: bool = True,
    ) -> None:
        super().__init__()
        require_dims(input_shape, 2, "the 1-D CNN", "model=cnn, model=gru or model=mlp")
        c = input_shape[0]
        blocks: list[nn.Module] = []
        for i, c_out in enumerate(channels):
            stride = 1 if i == 0 else 2
            blocks += [
                nn.Conv1d(c, c_out, kernel_size, stride, kernel_size // 2, bias=not batchnorm)
            ]
            blocks += [nn.BatchNorm1d(c_out)] if batchnorm else []
            blocks += [nn.GELU()]
            c = c_out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, C, T')
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=1)  # (B, 2C): average and max over time
        return self.head(pooled)
