"""LeNet-style convolutional network for small images."""

import torch
from torch import nn

from src.networks.checks import require_dims
from src.networks.mlp import dense_block


class LeNet(nn.Module):
    """[conv3x3 -> (BN) -> ReLU -> maxpool2] per entry of ``channels``, then a dense head.

    Pooling stops once the feature map is 2x2, so 8x8 digits and 32x32 CIFAR images both work.

    Args:
        input_shape: (C, H, W) of one image.
        num_outputs: logits per sample.
        channels: output channels of each conv block.
        hidden: width of the dense layer before the head; 0 for none.
        dropout: dropout before the dense layers.
        batchnorm: batch norm after each convolution.
    """

    def __init__(
        self,
        input_shape: list[int],
        num_outputs: int,
        channels: list[int],
        hidden: int = 128,
        dropout: float = 0.0,
        batchnorm: bool = True,
    ) -> None:
        super().__init__()
        require_dims(input_shape, 3, "the CNN", "model=cnn1d, model=gru or model=mlp")
        c, h, w = input_shape
        blocks: list[nn.Module] = []
        for c_out in channels:
            blocks += [nn.Conv2d(c, c_out, 3, padding=1, bias=not batchnorm)]
            blocks += [nn.BatchNorm2d(c_out)] if batchnorm else []
            blocks += [nn.ReLU()]
            if min(h, w) >= 4:
                blocks.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = c_out
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        width = c * h * w
        if hidden:
            head += dense_block(width, hidden, dropout, batchnorm=False)
            width = hidden
        head.append(nn.Linear(width, num_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, C, H, W) -> (B, num_outputs)
