"""Epoch-level logging: every epoch's row holds that epoch's train and val values."""

import csv
from pathlib import Path

import pytest

from src.callbacks.history import MetricHistory
from src.experiments import build
from tests.conftest import Compose


def test_rows_hold_each_epochs_own_values(compose_cfg: Compose) -> None:
    cfg = compose_cfg("trainer.max_epochs=3", "trainer.log_every_n_steps=2")
    callbacks = build.callbacks(cfg)
    trainer = build.trainer(cfg, callbacks, build.loggers(cfg))
    trainer.fit(build.module(cfg), datamodule=build.datamodule(cfg))
    rows = next(cb for cb in callbacks if isinstance(cb, MetricHistory)).rows
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    for row in rows:
        for key in ("train/loss", "train/acc", "val/loss", "val/acc", "val/auroc", "lr-AdamW"):
            assert key in row, (row["epoch"], key)
    final = trainer.callback_metrics
    assert rows[-1]["train/acc"] == pytest.approx(float(final["train/acc"]))
    assert rows[-1]["val/f1"] == pytest.approx(float(final["val/f1"]))
    assert rows[0]["lr-AdamW"] > rows[-1]["lr-AdamW"]  # cosine schedule: each row its own lr

    with Path(cfg.paths.output_dir, "csv", "metrics.csv").open() as f:
        logged = list(csv.DictReader(f))
    step_rows = [r for r in logged if r.get("train/loss_step")]
    epoch_rows = [r for r in logged if r.get("train/acc")]
    assert len(step_rows) == 4  # 3 batches x 3 epochs, written every 2nd step
    assert [r["epoch"] for r in epoch_rows] == ["0", "1", "2"]
    assert float(epoch_rows[-1]["train/acc"]) == pytest.approx(rows[-1]["train/acc"])


def test_runs_without_a_logger(compose_cfg: Compose) -> None:
    # the default callbacks include LearningRateMonitor, which refuses to run without a logger
    from src.experiments.train import train

    metrics = train(compose_cfg("logger=none"))
    assert metrics["epochs"] == 1 and "test/acc" in metrics
