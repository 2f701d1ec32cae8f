"""Every experiment in conf/experiment/ trains, validates and tests for a few batches."""

import math
import shutil
from pathlib import Path

import pytest

from src.experiments.train import train
from tests.conftest import CONF, Compose
from tests.data.fakes import SMALL_SPOKEN_DIGITS, own_data_for, write_cifar10

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def data_overrides(experiment: str, tmp_path: Path) -> list[str]:
    """Experiments on downloadable data sets run on generated files in the real format."""
    if experiment.startswith("cifar10"):
        write_cifar10(tmp_path / "cifar")
        # small batches: ResNet-18 on 32x32 images is slow on a CPU
        return [f"paths.data_dir={tmp_path / 'cifar'}", "dataset.batch_size=8"]
    if experiment.startswith("spoken_digits"):
        if shutil.which("espeak-ng") is None:
            pytest.skip("espeak-ng is not installed (bash .ci/services/espeak.sh)")
        return SMALL_SPOKEN_DIGITS
    return own_data_for(f"experiment={experiment}", tmp_path=tmp_path)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_a_few_batches(
    compose_cfg: Compose, tmp_path: Path, experiment: str
) -> None:
    overrides = data_overrides(experiment, tmp_path)
    cfg = compose_cfg(f"experiment={experiment}", *overrides)
    metrics = train(cfg)
    assert metrics["epochs"] == 1
    assert math.isfinite(metrics[cfg.optimized_metric])  # the experiment's own objective
    for split in ("train", "val", "test"):
        assert math.isfinite(metrics[f"{split}/loss"])
