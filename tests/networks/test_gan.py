"""GAN networks: image shapes follow dataset.input_shape; conditioning and spectral norm."""

import pytest
import torch

from src.errors import ConfigError
from src.networks.gan import (
    DCDiscriminator,
    DCGenerator,
    MLPDiscriminator,
    MLPGenerator,
    upsampling_steps,
)

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
NETS = [(DCGenerator, DCDiscriminator), (MLPGenerator, MLPDiscriminator)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("classes", [0, 10])
@pytest.mark.parametrize(("gen", "disc"), NETS, ids=["dcgan", "mlp"])
def test_generated_images_have_the_data_shape(
    shape: tuple[int, ...], classes: int, gen: type, disc: type
) -> None:
    g, d = gen(shape, latent_dim=16, num_classes=classes), disc(shape, num_classes=classes)
    y = torch.randint(0, 10, (5,)) if classes else None
    images = g(torch.randn(5, 16), y).detach()
    assert images.shape == (5, *shape)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0  # sigmoid output
    assert d(images, y).shape == (5,)


def test_layer_counts_follow_the_image_size() -> None:
    assert [upsampling_steps(s, s) for s in (8, 28, 32, 64)] == [1, 2, 3, 4]
    ups = [m for m in DCGenerator((3, 32, 32)).modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(ups) == 3


def test_labels_change_a_conditional_generator_and_discriminator() -> None:
    g, d = DCGenerator((1, 8, 8), num_classes=10).eval(), DCDiscriminator((1, 8, 8), num_classes=10)
    z = torch.randn(1, 64).repeat(2, 1)
    images = g(z, torch.tensor([1, 2]))
    assert not torch.allclose(images[0], images[1])
    same = images[:1].repeat(2, 1, 1, 1)
    logits = d(same, torch.tensor([1, 2]))
    assert not torch.allclose(logits[0], logits[1])


def test_spectral_norm_parametrizes_every_discriminator_weight() -> None:
    d = DCDiscriminator((1, 28, 28), num_classes=10, spectral_norm=True)
    layers = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding)
    weighted = [m for m in d.modules() if isinstance(m, layers)]
    assert weighted and all(hasattr(m, "parametrizations") for m in weighted)


def test_unknown_output_activation_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model.generator.output"):
        DCGenerator((1, 8, 8), output="relu")
