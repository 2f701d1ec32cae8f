"""torchvision ResNet-18 adapted to any input channels, image size and class count."""

from pathlib import Path

import torch
from torch import nn

from src.errors import ConfigError, DataError
from src.networks.checks import require_dims


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
    from torchvision.models import resnet18 as tv_resnet18

    require_dims(input_shape, 3, "ResNet-18", "model=cnn1d, model=gru or model=mlp")
    net = tv_resnet18(weights=None, num_classes=num_outputs)
    if small_input or input_shape[0] != 3:
        stride, kernel = (1, 3) if small_input else (2, 7)
        net.conv1 = nn.Conv2d(input_shape[0], 64, kernel, stride, kernel // 2, bias=False)
    if small_input:
        net.maxpool = nn.Identity()
    state = _weights(weights_path, pretrained)
    if state is not None:
        own = net.state_dict()
        fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not fits:
            raise ConfigError(
                "model.net.weights_path",
                weights_path,
                "a torchvision ResNet-18 state_dict (keys such as 'layer1.0.conv1.weight')",
                "save it with torch.save(torchvision.models.resnet18(...).state_dict(), path)",
            )
        net.load_state_dict(fits, strict=False)
    return net


def _weights(weights_path: str | None, pretrained: bool) -> dict[str, torch.Tensor] | None:
    """The state_dict of ``weights_path``, else torchvision's ImageNet weights if ``pretrained``."""
    from torchvision.models import ResNet18_Weights

    if weights_path is not None:
        if not Path(weights_path).is_file():
            raise ConfigError(
                "model.net.weights_path",
                weights_path,
                "an existing state_dict file",
                "give the path of e.g. resnet18-f37072fd.pth, or null",
            )
        return torch.load(weights_path, map_location="cpu", weights_only=True)
    if not pretrained:
        return None
    try:
        return ResNet18_Weights.DEFAULT.get_state_dict(progress=False)
    except (OSError, RuntimeError) as e:  # no network (URLError), bad download (RuntimeError)
        raise DataError(
            f"ResNet-18 ImageNet weights could not be downloaded ({type(e).__name__}: {e}). "
            f"Offline, copy {ResNet18_Weights.DEFAULT.url} to this machine and set "
            "model.net.weights_path=<file> model.net.pretrained=false."
        ) from e
