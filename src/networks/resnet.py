"""torchvision ResNet-18 adapted to any input channels, image size and class count."""

from pathlib import Path

import torch
from torch import nn

from src.errors import ConfigError, DataError


def resnet18(
    input_shape: list[int],
    num_outputs: int,
    small_input: bool = True,
    weights_path: str | None = None,
    pretrained: bool = False,
) -> nn.Module:
    """Build a ResNet-18, optionally initialised from ImageNet weights.

    Layers whose shape differs from the weights (the stem for non-RGB or small inputs, the
    classifier for another class count) keep their fresh initialisation: transfer learning.

    Args:
        input_shape: (C, H, W) of one image.
        num_outputs: logits per sample.
        small_input: 3x3 stride-1 stem without max-pool, for images of 32 px or less.
        weights_path: local torchvision state_dict file (e.g. resnet18-f37072fd.pth).
        pretrained: download torchvision's ImageNet weights (needs internet).
    """
    from torchvision.models import ResNet18_Weights
    from torchvision.models import resnet18 as tv_resnet18

    net = tv_resnet18(weights=None, num_classes=num_outputs)
    if small_input or input_shape[0] != 3:
        stride, kernel = (1, 3) if small_input else (2, 7)
        net.conv1 = nn.Conv2d(input_shape[0], 64, kernel, stride, kernel // 2, bias=False)
    if small_input:
        net.maxpool = nn.Identity()
    state = None
    if weights_path is not None:
        if not Path(weights_path).is_file():
            raise ConfigError("model.net.weights_path", weights_path, "an existing weights file")
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    elif pretrained:
        try:
            state = ResNet18_Weights.DEFAULT.get_state_dict(progress=False)
        except Exception as e:
            raise DataError(
                f"ResNet-18 ImageNet weights could not be downloaded ({type(e).__name__}). "
                "Offline, download resnet18-f37072fd.pth elsewhere and set "
                "model.net.weights_path=<file> model.net.pretrained=false."
            ) from e
    if state is not None:
        own = net.state_dict()
        net.load_state_dict(
            {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}, strict=False
        )
    return net
