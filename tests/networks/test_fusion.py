"""FusionNet: every fusion maps named inputs to logits and answers with a modality missing."""

import pytest
import torch
from torch import nn

from src.errors import ConfigError
from src.networks.fusion import Encoder, FusionNet


def encoders() -> dict[str, Encoder]:
    image = nn.Sequential(nn.Flatten(), nn.Linear(64, 16))
    text = nn.EmbeddingBag(20, 16)
    return {"image": Encoder(image, {"input": "image"}), "text": Encoder(text, {"input": "tokens"})}


def inputs(batch: int = 6) -> dict[str, torch.Tensor]:
    return {"image": torch.randn(batch, 1, 8, 8), "tokens": torch.randint(1, 20, (batch, 5))}


@pytest.mark.parametrize("fusion", ["concat", "late", "attention", "image", "text"])
def test_a_missing_image_is_the_same_as_no_image_input(fusion: str) -> None:
    torch.manual_seed(0)
    net = FusionNet(encoders(), num_outputs=3, dim=16, fusion=fusion).eval()
    x = inputs()
    logits = net(**x)
    assert logits.shape == (6, 3)
    if fusion == "image":
        return
    without = net(**x, image_present=torch.zeros(6, dtype=torch.long))
    text_only = net(tokens=x["tokens"])
    assert torch.allclose(without, text_only, atol=1e-6)
    some = net(**x, image_present=torch.tensor([1, 0, 1, 0, 1, 0]))
    assert torch.allclose(some[0::2], logits[0::2], atol=1e-6)  # rows with images unchanged
    assert torch.allclose(some[1::2], text_only[1::2], atol=1e-6)


def test_modality_dropout_never_hides_every_modality() -> None:
    net = FusionNet(encoders(), num_outputs=3, dim=16, modality_dropout=0.9).train()
    kept = net._kept(inputs(500))
    assert kept.any(1).all() and not kept.all()


def test_fixed_late_weights_mix_the_heads() -> None:
    net = FusionNet(encoders(), 3, 16, fusion="late", late_weights=[1.0, 0.0]).eval()
    only_image = FusionNet(encoders(), 3, 16, fusion="late", late_weights=[1.0, 0.0]).eval()
    only_image.load_state_dict(net.state_dict())
    x = inputs()
    assert torch.allclose(net(**x), net.heads[0](net.encoders["image"](x)), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"fusion": "sum"}, "model.net.fusion"),
        ({"fusion": "late", "late_weights": [1.0]}, "model.net.late_weights"),
        ({"modality_dropout": 1.0}, "model.net.modality_dropout"),
    ],
)
def test_bad_fusion_settings_name_the_key(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        FusionNet(encoders(), 3, 16, **kwargs)  # type: ignore[arg-type]
