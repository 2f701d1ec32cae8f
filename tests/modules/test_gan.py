"""The GAN module trains both networks under manual optimisation with every loss and option."""

import math
from functools import partial
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from src.data.loader import TensorLoader
from src.errors import ConfigError
from src.modules.gan import GANModule
from src.networks.gan import MLPDiscriminator, MLPGenerator

SHAPE = (1, 4, 4)


def gan(**options: Any) -> GANModule:
    classes = options.pop("num_classes", 0)
    kwargs: dict[str, Any] = {
        "optimizer_g": partial(torch.optim.Adam, lr=1e-3),
        "optimizer_d": partial(torch.optim.Adam, lr=1e-3),
        "latent_dim": 8,
        "num_classes": classes,
        "ema_decay": 0.9,
    }
    return GANModule(
        MLPGenerator(SHAPE, latent_dim=8, hidden=[16], num_classes=classes),
        MLPDiscriminator(SHAPE, hidden=[16], num_classes=classes),
        **(kwargs | options),
    )


def fit(
    module: GANModule, x: torch.Tensor | None = None, epochs: int = 1, precision: str = "32-true"
) -> pl.Trainer:
    x = torch.rand(64, *SHAPE) if x is None else x
    data = {"x": x, "target": torch.arange(len(x)) % 3}
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        precision=precision,  # type: ignore[arg-type]
    )
    trainer.fit(module, TensorLoader(data, 16, shuffle=True))
    return trainer


def params(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in net.parameters()])


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "ns"},
        {"loss": "ns", "real_label": 0.9, "r1_gamma": 1.0},
        {"loss": "hinge", "gradient_clip_val": 1.0},
        {"loss": "wgan-gp", "n_critic": 2},
        {"loss": "hinge", "num_classes": 3},
    ],
    ids=["ns", "ns-smooth-r1", "hinge-clip", "wgan-gp", "conditional"],
)
def test_a_few_steps_train_both_networks(options: dict[str, Any]) -> None:
    module = gan(**options)
    g0, d0 = params(module.generator), params(module.discriminator)
    trainer = fit(module)
    assert not torch.equal(params(module.generator), g0)
    assert not torch.equal(params(module.discriminator), d0)
    metrics = trainer.callback_metrics
    assert math.isfinite(float(metrics["train/loss_d"]))
    assert math.isfinite(float(metrics["train/loss_g"]))
    # n_critic: one generator step per n_critic discriminator steps (4 batches)
    assert int(module.ema_updates) == 4 // options.get("n_critic", 1)


def test_ema_weights_differ_from_the_generator_and_give_the_samples() -> None:
    module = gan(ema_decay=0.9)
    fit(module)
    assert not torch.allclose(params(module.generator_ema), params(module.generator))
    z = torch.randn(5, 8)
    samples = module.sample(z)
    assert torch.equal(samples, module.generator_ema.eval()(z))
    assert not torch.allclose(samples, module.generator.eval()(z))


def test_without_ema_samples_come_from_the_generator() -> None:
    module = gan(ema_decay=0.0)
    fit(module)
    z = torch.randn(5, 8)
    assert torch.equal(module.sample(z), module.generator.eval()(z))


def test_gradient_clipping_applies_under_manual_optimisation() -> None:
    clip, lr = 1e-6, 1.0
    module = gan(
        optimizer_g=partial(torch.optim.SGD, lr=lr),
        optimizer_d=partial(torch.optim.SGD, lr=lr),
        gradient_clip_val=clip,
    )
    g0 = params(module.generator)
    fit(module)  # 4 steps of at most lr * clip each
    assert 0 < float((params(module.generator) - g0).norm()) <= 4 * lr * clip * 1.01


def test_a_nan_loss_fails_the_run_with_a_reason() -> None:
    x = torch.rand(64, *SHAPE)
    x[5] = float("nan")
    with pytest.raises(FloatingPointError, match=r"a GAN loss became nan in epoch 0.*learning"):
        fit(gan(), x, epochs=2)


def test_bad_options_name_their_key() -> None:
    with pytest.raises(ConfigError, match=r"model.loss"):
        gan(loss="wasserstein")
    with pytest.raises(ConfigError, match=r"model.n_critic"):
        gan(n_critic=0)
    with pytest.raises(ConfigError, match=r"model.real_label"):
        gan(loss="hinge", real_label=0.9)


def test_trains_under_mixed_precision() -> None:
    module = gan(loss="wgan-gp", r1_gamma=1.0, gradient_clip_val=1.0)
    g0, d0 = params(module.generator), params(module.discriminator)
    trainer = fit(module, precision="bf16-mixed")  # the CPU's AMP; 16-mixed needs a GPU
    assert not torch.equal(params(module.generator), g0)
    assert not torch.equal(params(module.discriminator), d0)
    assert math.isfinite(float(trainer.callback_metrics["train/loss_g"]))
