"""k-fold cross-validation: the folds the datamodule serves, the loop's files and metrics,
``compare`` on cross-validated runs, and ``cv.folds`` values that cannot work."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from src.config.validate import validate
from src.data.datamodule import InMemoryDataModule
from src.data.sources import Arrays
from src.errors import ConfigError
from src.experiments import run
from tests.conftest import Compose

ROWS = 200


def _numbered() -> Arrays:
    """Rows whose only feature is their own number (3 classes of unequal size)."""
    return Arrays(np.arange(ROWS, dtype=np.float32)[:, None], np.arange(ROWS) % 3 // 2)


def _fold(fold: int, folds: int = 4) -> dict[str, set[int]]:
    dm = InMemoryDataModule(
        _numbered, [1], 2, "multiclass", 2, normalize="none", folds=folds, fold=fold
    )
    dm.setup("fit")
    return {k: {int(v) for v in s["x"][:, 0]} for k, s in dm.splits.items()}


def test_folds_partition_the_non_test_rows_stratified() -> None:
    folds = [_fold(i) for i in range(4)]
    test = folds[0]["test"]
    assert all(f["test"] == test for f in folds)  # the test split is the same for every fold
    vals = [f["val"] for f in folds]
    assert set().union(*vals) == set(range(ROWS)) - test  # every non-test row validated once
    assert sum(len(v) for v in vals) == ROWS - len(test)
    for f in folds:
        assert not f["val"] & f["train"] and len(f["train"]) + len(f["val"]) + len(test) == ROWS
        share = np.mean([r % 3 // 2 for r in f["val"]])  # class 1 is a third of the rows
        assert share == pytest.approx(1 / 3, abs=0.03)


def test_fold_outside_the_folds_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"cv\.fold=4"):
        _fold(4)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["cv.folds=1"], r"cv\.folds=1: expected null \(one train/val split\) or an integer >= 2"),
        (["cv.folds=3", "mode=compare"], r"cv\.folds=3: expected null outside mode=train"),
        (["cv.folds=3", "experiment=lm_stdlib_char"], r"cv\.folds=3: expected a dataset that"),
    ],
)
def test_bad_cv_settings_fail_before_training(
    compose_cfg: Compose, overrides: list[str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key):
        validate(compose_cfg(*overrides))


def test_cross_validation_writes_folds_and_mean_std(compose_cfg: Compose, tmp_path: Path) -> None:
    cfg = compose_cfg(
        "dataset=breast_cancer", "model=mlp", "cv.folds=2", "optimized_metric=val/loss"
    )
    value = run(cfg)
    out = Path(cfg.paths.output_dir)
    saved = json.loads((out / "metrics.json").read_text())
    with (out / "cv_folds.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["fold"] for r in rows] == ["0", "1"]
    losses = [float(r["val/loss"]) for r in rows]
    assert value == pytest.approx(saved["val/loss"]) == pytest.approx(np.mean(losses))
    assert saved["val/loss_std"] == pytest.approx(np.std(losses, ddof=1))
    assert saved["cv/folds"] == 2 and "test/auroc_std" in saved
    for i in range(2):  # each fold is a whole run of its own, validated on its own fold
        fold = json.loads((out / f"fold_{i}" / "metrics.json").read_text())
        assert fold["val/loss"] == pytest.approx(losses[i])
        assert (out / f"fold_{i}" / "checkpoints" / "last.ckpt").is_file()
    ckpts = [
        torch.load(out / f"fold_{i}/checkpoints/last.ckpt", weights_only=False) for i in (0, 1)
    ]
    first, second = (next(iter(c["state_dict"].values())) for c in ckpts)
    assert not torch.equal(first, second)  # two models, trained on different rows

    compared = tmp_path / "compare"
    run(
        compose_cfg(
            "mode=compare", f"compare.runs={out}", "optimized_metric=val/loss", run_dir=compared
        )
    )
    header, row = (compared / "comparison.md").read_text().splitlines()[::2]
    assert "val/loss_std" in header and f"{saved['val/loss_std']:.4f}" in row
