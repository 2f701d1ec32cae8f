"""A conditional GAN trained through the real train entry: objective, sample grids, and
mode=sample from its checkpoint."""

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from src.errors import ConfigError
from src.experiments.train import train
from src.modules.gan_sampling import sample
from tests.conftest import DATA_DIR, FAST, compose_config
from tests.modules.gan_helpers import digits_classifier

GRID = ["model.callbacks.sample_grid.num_samples=3", "model.callbacks.sample_grid.upscale=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("cgan")
    overrides = [f"paths.log_dir={root / 'outputs'}", f"paths.data_dir={DATA_DIR}", *FAST]
    overrides += ["experiment=digits_gan", "model=gan_conditional", *GRID]
    overrides += [f"model.fid_classifier={digits_classifier()}"]
    return train(compose_config(overrides, root / "run"))


def test_a_conditional_gan_logs_its_objective_floor_and_class_accuracy(
    trained: dict[str, Any],
) -> None:
    for key in ("val/fid", "val/kid", "val/fid_floor", "val/class_acc", "test/fid"):
        assert math.isfinite(trained[key]), key
    assert trained["val/fid"] > trained["val/fid_floor"] > 0  # one epoch is far from real
    assert 0 <= trained["val/class_acc"] <= 1


def test_the_sample_grid_has_one_row_per_class(trained: dict[str, Any]) -> None:
    grid = Path(trained["run_dir"]) / "samples" / "epoch_001.png"
    # 10 rows of 3 columns of 8x8 digits, 1-pixel gaps
    assert Image.open(grid).size == (3 * 9 - 1, 10 * 9 - 1)


def sample_cfg(trained: dict[str, Any], tmp_path: Path, *overrides: str) -> Any:
    args = ["mode=sample", "experiment=digits_gan", "model=gan_conditional"]
    args += [f"ckpt_path={trained['best_checkpoint']}", f"paths.data_dir={DATA_DIR}"]
    return compose_config([*args, "hardware=cpu", *overrides], tmp_path)


def test_mode_sample_writes_n_images_per_requested_class(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    cfg = sample_cfg(trained, tmp_path, "sample.num=2", "sample.classes=[3,7]")
    result = sample(cfg)
    out = Path(result["sample_dir"])
    names = sorted(p.name for p in out.glob("class_*.png"))
    assert names == ["class_3_0000.png", "class_3_0001.png", "class_7_0002.png", "class_7_0003.png"]
    assert Image.open(out / names[0]).size == (8, 8)
    saved = np.load(out / "samples.npz")
    assert saved["images"].shape == (4, 1, 8, 8) and saved["labels"].tolist() == [3, 3, 7, 7]
    assert (out / "grid.png").is_file()


def test_mode_sample_refuses_a_class_the_gan_does_not_have(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"sample.classes"):
        sample(sample_cfg(trained, tmp_path, "sample.classes=[12]"))
