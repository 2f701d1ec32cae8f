"""Every experiment in conf/experiment/ trains, validates and tests for a few batches."""

import pytest

from src.experiments.train import train
from tests.conftest import CONF, Compose

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
NEEDS_DOWNLOAD = {"cifar10_resnet18"}  # exercised with generated files in tests/data


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_a_few_batches(compose_cfg: Compose, experiment: str) -> None:
    if experiment in NEEDS_DOWNLOAD:
        pytest.skip("needs the real data set files; the loader is tested on generated files")
    metrics = train(compose_cfg(f"experiment={experiment}"))
    assert metrics["epochs"] == 1
    for split in ("train", "val", "test"):
        assert 0.0 <= metrics[f"{split}/acc"] <= 1.0
        assert metrics[f"{split}/loss"] == metrics[f"{split}/loss"]  # not NaN
