"""FGSM/PGD in input units, mode=attack, adversarial training (callbacks=adversarial)."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from src.callbacks.adversarial import AdversarialTraining
from src.errors import ConfigError
from src.experiments.attack import attack
from src.experiments.train import train
from src.robustness.attacks import Attack, classification_loss, fgsm, perturb
from tests.conftest import Compose


def _linear_problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    return net, torch.rand(32, 1, 4, 4) * 16, torch.randint(0, 3, (32,))


@pytest.mark.parametrize("spec", [fgsm(2.0), Attack(2.0, steps=5, random_start=True)])
def test_attacks_stay_in_the_budget_and_the_box_and_raise_the_loss(spec: Attack) -> None:
    net, x, y = _linear_problem()
    adv = perturb(net, x, y, spec, (0.0, 16.0))
    assert (adv - x).abs().max() <= 2.0 + 1e-5
    assert adv.min() >= 0 and adv.max() <= 16
    with torch.no_grad():
        assert classification_loss(net(adv), y) > classification_loss(net(x), y)


def test_a_negative_budget_is_named() -> None:
    with pytest.raises(ConfigError, match=r"attack\.epsilon=\[-0\.5\]"):
        Attack(-0.5)
    with pytest.raises(ConfigError, match=r"callbacks\.adversarial_training\.epsilon"):
        AdversarialTraining(epsilon=-1.0)


def test_pgd_with_zero_steps_is_named() -> None:
    with pytest.raises(ConfigError, match=r"attack\.steps=0.*Fix"):
        Attack(1.0, steps=0)


def test_mode_attack_checks_budgets_and_steps_before_loading(compose_cfg: Compose) -> None:
    for bad, key in (
        ("attack.epsilons=[1,-2]", "attack.epsilons"),
        ("attack.steps=0", "attack.steps"),
    ):
        ok = "attack.epsilons=[1]" if "steps" in bad else "attack.steps=3"
        cfg = compose_cfg("mode=attack", "ckpt_path=missing.ckpt", bad, ok)
        with pytest.raises(ConfigError, match=key):
            attack(cfg)


@pytest.mark.slow
def test_adversarial_training_then_attack_writes_robust_accuracy(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    trained = train(compose_cfg("callbacks=adversarial", "callbacks.adversarial_training.steps=2"))
    assert trained["epochs"] == 1
    cfg = compose_cfg(
        "mode=attack",
        f"ckpt_path={trained['best_checkpoint']}",
        "attack.epsilons=[0,4]",
        "attack.steps=3",
        "attack.samples=64",
        run_dir=tmp_path / "attack",
    )
    metrics = attack(cfg)
    report = json.loads((tmp_path / "attack" / "robustness.json").read_text())
    assert report["samples"] == 64 and report["input_range"] == [0.0, 16.0]
    assert metrics["attack/pgd_eps0_acc"] == metrics["attack/clean_acc"]
    assert metrics["attack/pgd_eps4_acc"] <= metrics["attack/fgsm_eps4_acc"] + 0.05
    assert metrics["attack/pgd_eps4_acc"] < metrics["attack/clean_acc"]
    assert (tmp_path / "attack" / "robustness.png").stat().st_size > 0
