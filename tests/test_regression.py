"""The regression task on a CSV: it learns, reports metrics and predictions in the target's
units, writes residuals.png, predicts rows without a target, and handles several targets."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from src.errors import ConfigError
from src.experiments import build, run
from src.experiments.predict import predict
from src.experiments.train import train
from tests.conftest import Compose
from tests.data.fakes import regression_rows, write_csv

# every batch of every split, enough epochs for the MLP to fit the smooth target
FULL = [
    "trainer.max_epochs=25",
    "trainer.limit_train_batches=1.0",
    "trainer.limit_val_batches=1.0",
    "trainer.limit_test_batches=1.0",
]


def read(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_regression_learns_in_the_targets_units(compose_cfg: Compose, tmp_path: Path) -> None:
    header, rows = regression_rows(600)
    path = write_csv(tmp_path / "prices.csv", header, rows)
    common = ["experiment=csv_regression", "dataset.target=price", f"dataset.path={path}"]
    cfg = compose_cfg(*common, *FULL, run_dir=tmp_path / "fit")
    metrics = train(cfg)
    assert metrics["test/r2"] > 0.95  # the mean prediction has R^2 = 0; measured 0.9965
    assert (tmp_path / "fit" / "residuals.png").stat().st_size > 0

    # the network learned the standardised price: its mean and std over the training rows
    datamodule = build.datamodule(cfg)
    datamodule.setup("fit")
    train_price = datamodule.splits["train"]["target"].double()  # type: ignore[attr-defined]
    state = torch.load(metrics["best_checkpoint"], weights_only=False)["state_dict"]
    assert state["target_offset"].item() == pytest.approx(train_price.mean().item(), rel=1e-5)
    assert state["target_scale"].item() == pytest.approx(train_price.std(correction=0).item())

    # predictions and metrics are prices, not z-scores: test/mse is the predictions' MSE
    def predictions(split: str, file: Path, name: str) -> list[dict[str, str]]:
        overrides = [
            "mode=predict",
            f"predict.split={split}",
            f"ckpt_path={metrics['best_checkpoint']}",
        ]
        cfg = compose_cfg(*common[:2], f"dataset.path={file}", *overrides, run_dir=tmp_path / name)
        return read(predict(cfg)["predictions"])

    test = predictions("test", path, "test")
    pred = np.array([float(r["prediction"]) for r in test])
    target = np.array([float(r["target"]) for r in test])
    assert 300 < target.mean() < 700
    assert np.mean((pred - target) ** 2) == pytest.approx(metrics["test/mse"], rel=1e-3)
    assert np.mean(np.abs(pred - target)) == pytest.approx(metrics["test/mae"], rel=1e-3)

    # new rows without the price column, once the training file is gone
    every = predictions("all", path, "all")
    path.unlink()
    picked = [4, 400, 42]
    new = write_csv(tmp_path / "new.csv", header[:-1], [rows[i][:-1] for i in picked])
    after = predictions("all", new, "new")
    assert [r["target"] for r in after] == ["nan"] * 3
    # equal up to float32 rounding, which differs between batches of other sizes
    same = [float(every[i]["prediction"]) for i in picked]
    assert [float(r["prediction"]) for r in after] == pytest.approx(same, rel=1e-6)


def test_several_targets_get_a_column_each(compose_cfg: Compose, tmp_path: Path) -> None:
    header, rows = regression_rows(200)
    rows = [[*r, round(float(r[0]) * 10 - 3, 3)] for r in rows]
    path = write_csv(tmp_path / "two.csv", [*header, "score"], rows)
    common = ["experiment=csv_regression", f"dataset.path={path}", "dataset.target=[price,score]"]
    cfg = compose_cfg(*common, run_dir=tmp_path / "fit")
    assert cfg.dataset.num_outputs == 2 and cfg.model.net.num_outputs == 2
    metrics = train(cfg)
    assert all(math.isfinite(metrics[f"{s}/{m}"]) for s in ("val", "test") for m in ("mse", "r2"))
    ckpt = f"ckpt_path={metrics['best_checkpoint']}"
    cfg = compose_cfg(*common, "mode=predict", ckpt, run_dir=tmp_path / "predict")
    columns = list(read(predict(cfg)["predictions"])[0])
    assert columns == ["index", "target_0", "target_1", "prediction_0", "prediction_1"]


def test_the_regression_objective_is_set_by_the_experiment(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    header, rows = regression_rows(50)
    path = write_csv(tmp_path / "prices.csv", header, rows)
    data = [f"dataset.path={path}", "dataset.target=price"]
    cfg = compose_cfg("experiment=csv_regression", *data)
    assert (cfg.optimized_metric, cfg.optimized_mode) == ("val/mse", "min")
    assert cfg.callbacks.model_checkpoint.mode == "min"
    # assembled by hand, the classification objective is refused with the metrics to pick from
    cfg = compose_cfg("dataset=csv", "dataset.task=regression", "model=mlp_regressor", *data)
    with pytest.raises(ConfigError, match=r"optimized_metric='val/acc'.*val/mse, val/mae, val/r2"):
        run(cfg)


@pytest.mark.slow
def test_ddp_measures_the_target_over_every_rank(compose_cfg: Compose, tmp_path: Path) -> None:
    header, rows = regression_rows(201)
    path = write_csv(tmp_path / "prices.csv", header, rows)
    common = ["experiment=csv_regression", f"dataset.path={path}", "dataset.target=price"]
    offsets = []
    for name, hardware in (("ddp", ["hardware=ddp_cpu", "hardware.devices=2"]), ("one", [])):
        metrics = train(compose_cfg(*common, *hardware, "test=false", run_dir=tmp_path / name))
        state = torch.load(metrics["best_checkpoint"], weights_only=False)["state_dict"]
        offsets.append(state["target_offset"].item())
    # 144 training rows: the two ranks' even shards hold all of them, so the means agree
    assert offsets[0] == pytest.approx(offsets[1], rel=1e-6)
