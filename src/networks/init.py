"""Weight initialisation schemes applied to a network's linear and conv layers."""

from torch import nn

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def initialize(net: nn.Module, scheme: str) -> None:
    """Re-initialise weights of linear/conv layers in place; biases become zero.

    Args:
        net: the network.
        scheme: ``default`` (PyTorch's own, untouched), ``normal`` (std 0.02), ``uniform``
            (+-0.05), ``xavier`` (Glorot uniform) or ``kaiming`` (He normal, for ReLU).
    """
    if scheme == "default":
        return
    fill = {
        "normal": lambda w: nn.init.normal_(w, 0.0, 0.02),
        "uniform": lambda w: nn.init.uniform_(w, -0.05, 0.05),
        "xavier": nn.init.xavier_uniform_,
        "kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    }[scheme]
    for m in net.modules():
        if isinstance(m, _LAYERS):
            fill(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
