"""Magnitude pruning's report (dense before, pruned after) and the pruning and distillation
settings that must stop a run."""

from pathlib import Path

import pytest
import torch
from torch import nn

from src.compression.distillation import DistilledClassifier, Teacher
from src.compression.pruning import CubicSparsity
from src.errors import ConfigError
from src.experiments import build
from src.experiments.evaluate import evaluate
from src.experiments.train import train
from tests.conftest import Compose

QUICK = ["logger=none", "compression.transform.repeats=3", "compression.transform.warmup=1"]


def test_magnitude_pruning_reports_the_dense_network_against_the_pruned_one(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    pruning = ["compression=prune_magnitude", "model.net.hidden=32", *QUICK]
    metrics = train(compose_cfg(*pruning, "trainer.max_epochs=3"))
    assert metrics["compression/before/nonzero"] == metrics["compression/before/params"]
    assert metrics["compression/nonzero_ratio"] == pytest.approx(5.0, rel=0.01)  # 80 % gone
    assert metrics["compression/size_bytes_ratio"] == pytest.approx(1.0, abs=0.01)  # dense zeros
    assert metrics["compression/size_bytes_deflated_ratio"] > 1.5
    ckpt = tmp_path / "run" / "checkpoints" / "compressed.ckpt"
    evaluated = evaluate(
        compose_cfg(*pruning, "mode=eval", f"ckpt_path={ckpt}", run_dir=tmp_path / "eval")
    )
    assert evaluated["test/acc"] == pytest.approx(metrics["compression/after/test/acc"])


def test_cubic_schedule_trains_dense_first_then_prunes_then_fine_tunes() -> None:
    schedule = CubicSparsity(target=0.8, epochs=10, start=0.3, ramp=0.4)
    totals = [schedule.total(epoch) for epoch in range(10)]
    assert totals[:3] == [0.0, 0.0, 0.0]  # dense epochs
    assert 0 < totals[3] < totals[4] < totals[5] < 0.8  # the cubic ramp
    assert totals[6:] == [pytest.approx(0.8)] * 4  # fine-tuning with the masks held


@pytest.mark.parametrize(
    ("start", "ramp"), [(-0.1, 0.4), (0.5, 0.6)], ids=["negative", "ramp ends after training"]
)
def test_a_schedule_that_cannot_reach_its_target_is_refused(start: float, ramp: float) -> None:
    with pytest.raises(ConfigError, match=r"compression\.start"):
        CubicSparsity(target=0.8, epochs=10, start=start, ramp=ramp)


@pytest.mark.parametrize(
    "override", ["compression.sparsity=-0.1", "compression.start=1.0", "compression.ramp=1.5"]
)
def test_bad_pruning_fractions_fail_when_built(compose_cfg: Compose, override: str) -> None:
    cfg = compose_cfg("compression=prune_magnitude", override, *QUICK)
    key = override.split("=")[0].replace(".", r"\.")
    with pytest.raises(ConfigError, match=f"{key}=.*a fraction in"):
        build.callbacks(cfg)


@pytest.mark.parametrize(
    ("setting", "key"),
    [({"alpha": 1.5}, "model.alpha"), ({"temperature": 0.0}, "model.temperature")],
)
def test_bad_distillation_weights_are_refused(setting: dict, key: str) -> None:
    net = nn.Linear(4, 3)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        DistilledClassifier(
            Teacher("teacher.ckpt"), net=net, optimizer=torch.optim.SGD, train_metrics=(), **setting
        )
