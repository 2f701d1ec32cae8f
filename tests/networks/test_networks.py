"""Every network, built from the real configs, maps every dataset it is used with to logits."""

import math
import urllib.error
from pathlib import Path
from typing import Any

import hydra
import pytest
import torch
from torch import nn
from torchvision.models import resnet18 as tv_resnet18

from src.errors import ConfigError, DataError
from src.experiments import build
from src.networks.gru import GRUClassifier
from src.networks.init import initialize
from src.networks.mlp import MLP
from src.networks.resnet import resnet18
from tests.conftest import Compose

IMAGES = ["digits", "mnist", "fashion_mnist", "cifar10"]
# which model is used with which datasets
PAIRS = (
    [("mlp", d) for d in [*IMAGES, "mnist1d", "breast_cancer"]]
    + [("cnn", d) for d in IMAGES]
    + [("resnet18", d) for d in IMAGES]
    + [("gru", d) for d in [*IMAGES, "mnist1d"]]
    + [("cnn1d", "mnist1d")]
)


@pytest.mark.parametrize(("model", "dataset"), PAIRS, ids=[f"{m}-{d}" for m, d in PAIRS])
def test_output_shape(compose_cfg: Compose, model: str, dataset: str) -> None:
    cfg = compose_cfg(f"model={model}", f"dataset={dataset}")
    net = hydra.utils.instantiate(cfg.model.net)
    x = torch.randn(3, *cfg.dataset.input_shape)
    net.train()
    assert net(x).shape == (3, cfg.dataset.num_outputs)
    net.eval()
    with torch.no_grad():
        assert net(x[:1]).shape == (1, cfg.dataset.num_outputs)  # batch norm in eval: B = 1


@pytest.mark.parametrize(
    ("model", "dataset"), [("cnn", "mnist1d"), ("cnn1d", "digits"), ("resnet18", "breast_cancer")]
)
def test_wrong_sample_rank_names_the_key(compose_cfg: Compose, model: str, dataset: str) -> None:
    cfg = compose_cfg(f"model={model}", f"dataset={dataset}")
    with pytest.raises(ConfigError, match=r"model\.net\.input_shape=.*pick a model for"):
        build.instantiate(cfg, "model.net")  # unwraps Hydra's InstantiationException


def test_gru_rejects_rows_of_features() -> None:
    with pytest.raises(ConfigError, match="model=mlp"):
        GRUClassifier([30], 1)


def _big_net() -> nn.Module:
    return nn.Sequential(nn.Linear(400, 300), nn.BatchNorm1d(300), nn.Conv1d(64, 128, 5))


@pytest.mark.parametrize(
    ("scheme", "std"),
    [
        ("normal", lambda fan_in, fan_out: 0.02),
        ("uniform", lambda fan_in, fan_out: 0.05 / math.sqrt(3)),
        ("xavier", lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out))),
        ("kaiming", lambda fan_in, fan_out: math.sqrt(2 / fan_in)),
    ],
)
def test_init_scheme_sets_the_stated_spread(scheme: str, std: Any) -> None:
    torch.manual_seed(0)
    net = _big_net()
    initialize(net, scheme)
    linear, norm, conv = net[0], net[1], net[2]
    for layer, fan_in, fan_out in ((linear, 400, 300), (conv, 64 * 5, 128 * 5)):
        expected = std(fan_in, fan_out)
        assert layer.weight.std().item() == pytest.approx(expected, rel=0.05), layer
        assert torch.all(layer.bias == 0)
    if scheme == "uniform":
        assert linear.weight.abs().max() <= 0.05
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)  # norm layers untouched


def test_default_init_leaves_weights_alone() -> None:
    net = _big_net()
    before = [p.clone() for p in net.parameters()]
    initialize(net, "default")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_init_reaches_recurrent_weights() -> None:
    net = GRUClassifier([1, 40], 10, hidden_size=64)
    initialize(net, "normal")
    assert net.gru.weight_hh_l0.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.all(net.gru.bias_ih_l0 == 0)


def test_mlp_batchnorm_and_dropout_are_built() -> None:
    net = MLP([30], 1, hidden=[16, 8], dropout=0.5, batchnorm=True)
    kinds = [type(m) for m in net.modules()]
    assert kinds.count(nn.BatchNorm1d) == 2 and kinds.count(nn.Dropout) == 2


@pytest.fixture
def imagenet_file(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A torchvision ResNet-18 state_dict (1000 ImageNet classes) saved as a local file."""
    torch.manual_seed(1)
    state = tv_resnet18(num_classes=1000).state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    return path, state


def test_resnet_loads_local_weights(imagenet_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    path, state = imagenet_file
    net = resnet18([3, 224, 224], 10, small_input=False, weights_path=str(path))
    own = net.state_dict()
    for key in ("conv1.weight", "layer1.0.conv1.weight", "layer4.1.bn2.running_var"):
        assert torch.equal(own[key], state[key]), key
    assert own["fc.weight"].shape == (10, 512)  # 10 classes: the head keeps its fresh init


def test_resnet_keeps_fresh_stem_when_shapes_differ(
    imagenet_file: tuple[Path, dict[str, torch.Tensor]],
) -> None:
    path, state = imagenet_file
    torch.manual_seed(2)
    fresh = resnet18([1, 28, 28], 10, small_input=True).state_dict()
    torch.manual_seed(2)
    net = resnet18([1, 28, 28], 10, small_input=True, weights_path=str(path)).state_dict()
    assert net["conv1.weight"].shape == (64, 1, 3, 3)
    assert torch.equal(net["conv1.weight"], fresh["conv1.weight"])
    assert torch.equal(net["fc.weight"], fresh["fc.weight"])
    assert torch.equal(net["layer2.0.conv1.weight"], state["layer2.0.conv1.weight"])


def test_resnet_weights_file_must_exist_and_fit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.net\.weights_path=.*existing state_dict file"):
        resnet18([3, 32, 32], 10, weights_path=str(tmp_path / "nope.pth"))
    other = tmp_path / "mlp.pth"
    torch.save(MLP([4], 2, hidden=[3]).state_dict(), other)
    with pytest.raises(ConfigError, match="a torchvision ResNet-18 state_dict"):
        resnet18([3, 32, 32], 10, weights_path=str(other))


def test_resnet_pretrained_offline_says_how_to_use_a_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[str] = []

    def urlopen(request: Any, *args: Any, **kwargs: Any) -> None:
        tried.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached weights
    monkeypatch.setattr("torch.hub.urlopen", urlopen)
    with pytest.raises(DataError) as e:
        resnet18([3, 32, 32], 10, pretrained=True)
    assert tried and tried[0].endswith("resnet18-f37072fd.pth")
    msg = str(e.value)
    assert "could not be downloaded (URLError" in msg
    assert "model.net.weights_path=<file> model.net.pretrained=false" in msg
