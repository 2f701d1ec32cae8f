"""Weight initialisation schemes applied to a network's linear, conv and recurrent layers."""

from collections.abc import Callable

import torch
from torch import nn

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

FILLS: dict[str, Callable[[torch.Tensor], object]] = {
    "normal": lambda w: nn.init.normal_(w, 0.0, 0.02),
    "uniform": lambda w: nn.init.uniform_(w, -0.05, 0.05),
    "xavier": nn.init.xavier_uniform_,
    "kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
}


def initialize(net: nn.Module, scheme: str) -> None:
    """Re-initialise the weights of linear, conv and GRU/LSTM layers in place; biases become 0.

    Norm layers keep weight 1 and bias 0.

    Args:
        net: the network.
        scheme: ``default`` (PyTorch's own, untouched), ``normal`` (std 0.02), ``uniform``
            (+-0.05), ``xavier`` (Glorot uniform) or ``kaiming`` (He normal, for ReLU).
    """
    if scheme == "default":
        return
    fill = FILLS[scheme]
    for m in net.modules():
        if isinstance(m, _LAYERS):
            fill(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.RNNBase):  # weight_ih_l0, weight_hh_l0, bias_ih_l0, ...
            for name, p in m.named_parameters():
                if name.startswith("weight"):
                    fill(p)
                else:
                    nn.init.zeros_(p)
