"""Multi-layer perceptron."""

import itertools
import math

import torch
from torch import nn


def dense_block(d_in: int, d_out: int, dropout: float, batchnorm: bool) -> list[nn.Module]:
    """Linear -> (BatchNorm) -> ReLU -> (Dropout)."""
    layers: list[nn.Module] = [nn.Linear(d_in, d_out)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(d_out))
    layers.append(nn.ReLU())
    if dropout:
        layers.append(nn.Dropout(dropout))
    return layers


class MLP(nn.Module):
    """Flattens the input and applies ``len(hidden)`` dense blocks and a linear head.

    Args:
        input_shape: shape of one sample; its product is the input width.
        num_outputs: logits per sample.
        hidden: widths of the hidden layers.
        dropout: dropout after each hidden layer.
        batchnorm: batch norm after each hidden linear layer.
    """

    def __init__(
        self,
        input_shape: list[int],
        num_outputs: int,
        hidden: list[int],
        dropout: float = 0.0,
        batchnorm: bool = False,
    ) -> None:
        super().__init__()
        widths = [math.prod(input_shape), *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for d_in, d_out in itertools.pairwise(widths):
            layers += dense_block(d_in, d_out, dropout, batchnorm)
        layers.append(nn.Linear(widths[-1], num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, num_outputs)
