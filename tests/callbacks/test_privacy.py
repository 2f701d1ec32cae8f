"""DP-SGD (privacy=dp): ε spent per epoch and in metrics.json, the BatchNorm swap in every
mode, Poisson sampling, and the errors for an unsupported layer and an unreachable budget."""

import csv
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from src.callbacks.privacy import DPSGD
from src.data.loader import TensorLoader
from src.errors import ConfigError
from src.experiments import build, run
from tests.conftest import Compose

DP = ["privacy=dp", "model=mlp", "dataset=breast_cancer"]


@pytest.mark.slow
def test_private_training_logs_epsilon_within_budget(compose_cfg: Compose, tmp_path: Path) -> None:
    cfg = compose_cfg(*DP, "trainer.max_epochs=2", "privacy.target_epsilon=2.0")
    run(cfg)
    out = Path(cfg.paths.output_dir)
    saved = json.loads((out / "metrics.json").read_text())
    assert 0 < saved["train/epsilon"] <= 2.0 and saved["train/noise_multiplier"] > 0.5
    with (out / "csv" / "metrics.csv").open() as f:
        spent = [float(r["train/epsilon"]) for r in csv.DictReader(f) if r.get("train/epsilon")]
    assert len(spent) == 2 and 0 < spent[0] < spent[1]  # ε grows with every epoch
    module = build.module(cfg)
    kinds = {type(m) for m in module.modules()}
    assert nn.GroupNorm in kinds and nn.BatchNorm1d not in kinds
    ckpt = out / "checkpoints" / "last.ckpt"  # the private model's checkpoint evaluates
    evaluated = run(compose_cfg(*DP, "mode=eval", f"ckpt_path={ckpt}", run_dir=tmp_path / "ev"))
    assert evaluated is not None and 0 <= evaluated <= 1


def test_poisson_batches_vary_around_the_batch_size() -> None:
    loader = TensorLoader({"x": torch.arange(1000)}, 50, poisson=True, seed=1)
    sizes = [len(b["x"]) for b in loader]
    assert len(sizes) == 20 and len(set(sizes)) > 5
    assert 40 < sum(sizes) / len(sizes) < 60


def test_unsupported_layer_is_named() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), weight_norm(nn.Linear(4, 2)))
    with pytest.raises(ConfigError, match=r"model\.net='2 \(ParametrizedLinear with weight\)'"):
        DPSGD(target_epsilon=3.0).prepare(net)
    norm = nn.Sequential(
        nn.Linear(3, 4), nn.InstanceNorm1d(4, affine=True, track_running_stats=True)
    )
    with pytest.raises(ConfigError, match=r"model\.net='1 \(InstanceNorm1d"):
        DPSGD(target_epsilon=3.0).prepare(norm)


def test_unreachable_budget_fails_before_training(compose_cfg: Compose) -> None:
    cfg = compose_cfg(*DP, "privacy.target_epsilon=1e-9")
    with pytest.raises(
        ConfigError, match=r"privacy\.target_epsilon=1e-09: expected a budget reach"
    ):
        run(cfg)
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["privacy.target_epsilon=-1"], r"target_epsilon=-1: expected a number > 0 \(or null\)"),
        (["privacy.target_epsilon=null"], r"privacy\.noise_multiplier=None: expected exactly one"),
        (["trainer.accumulate_grad_batches=2"], r"trainer\.accumulate_grad_batches=2: expected 1"),
    ],
)
def test_bad_privacy_settings(compose_cfg: Compose, overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        run(compose_cfg(*DP, *overrides))
