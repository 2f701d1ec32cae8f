"""Monitoring callbacks: gradient norm, throughput, peak memory and threshold alerts."""

import csv
import json
import logging
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from src.callbacks.alerts import Alert
from src.callbacks.monitoring import GradNormMonitor
from src.errors import ConfigError
from src.experiments import run
from tests.conftest import Compose


def test_alerts_warn_and_stop_and_monitors_log(
    compose_cfg: Compose, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = compose_cfg(
        "trainer.max_epochs=4",
        # fires on the first training step; val/acc < 2 always, but only from epoch 1 on
        "callbacks.alerts.rules=[{metric: train/grad_norm, above: 0, action: warn},"
        "{metric: val/acc, below: 2, after_epoch: 1, action: stop}]",
    )
    with caplog.at_level(logging.WARNING):
        run(cfg)
    out = Path(cfg.paths.output_dir)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2  # stopped at the end of epoch 1, not after 4 epochs

    events = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    warns = [e for e in events if e["metric"] == "train/grad_norm"]
    stops = [e for e in events if e["metric"] == "val/acc"]
    assert [e["epoch"] for e in warns] == [0, 1]  # once per epoch, not once per step
    assert warns[0]["action"] == "warn" and warns[0]["value"] > 0
    assert [(e["epoch"], e["action"]) for e in stops] == [(1, "stop")]
    assert "alert (stop) at epoch 1: val/acc=" in caplog.text

    with (out / "csv" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    epoch_rows = [r for r in rows if r.get("perf/samples_per_sec")]
    assert len(epoch_rows) == 2
    for r in epoch_rows:
        # 3 batches of 64 samples in a fraction of a second; RSS of a torch process > 50 MiB
        assert float(r["perf/samples_per_sec"]) > 10
        assert float(r["perf/epoch_time_s"]) > 0
        assert float(r["perf/peak_memory_mb"]) > 50
    grad = [float(r["train/grad_norm_epoch"]) for r in rows if r.get("train/grad_norm_epoch")]
    assert len(grad) == 2 and all(math.isfinite(g) and g > 0 for g in grad)
    assert any(r.get("alerts/val/acc") for r in rows)  # the alert reached the logger too


def test_non_finite_values_always_fire() -> None:
    rule = Alert(metric="train/loss", action="stop")
    assert rule.violated(float("nan")) == "train/loss is nan"
    assert rule.violated(float("inf")) == "train/loss is inf"
    assert rule.violated(1e9) is None
    assert Alert(metric="val/acc", below=0.5).violated(0.4) == "val/acc=0.4 < 0.5"


@pytest.mark.parametrize(
    ("rules", "key"),
    [
        ("[{metric: val/acc, below: 0.1, action: explode}]", "callbacks.alerts.rules[0].action"),
        ("[{metric: val/acc, under: 0.1}]", "callbacks.alerts.rules[0]"),
    ],
)
def test_bad_alert_rule_names_its_key(compose_cfg: Compose, rules: str, key: str) -> None:
    cfg = compose_cfg(f"callbacks.alerts.rules={rules}")
    with pytest.raises(ConfigError) as e:
        run(cfg)
    assert e.value.key == key
    assert not Path(cfg.paths.output_dir, "metrics.json").exists()


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("mixed_dtypes", [False, True])
def test_grad_norm_is_the_global_norm_of_all_gradients(
    norm_type: float, mixed_dtypes: bool
) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    if mixed_dtypes:  # the per-dtype grouping path of torch's get_total_norm
        net[1].double()
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    module = SimpleNamespace()
    trainer = SimpleNamespace(
        optimizers=[optimizer], _logger_connector=SimpleNamespace(should_update_logs=False)
    )
    monitor = GradNormMonitor(norm_type)
    monitor.on_train_start(trainer, module)  # type: ignore[arg-type]
    monitor.on_train_epoch_start(trainer, module)  # type: ignore[arg-type]
    monitor.on_before_optimizer_step(trainer, module, optimizer)  # type: ignore[arg-type]
    every = torch.cat([p.grad.double().flatten() for p in net.parameters()])  # type: ignore[union-attr]
    expected = torch.linalg.vector_norm(every, norm_type)
    key, _, uniform = monitor._params[id(optimizer)]
    assert key == "train/grad_norm" and uniform != mixed_dtypes
    assert float(monitor._sums[id(optimizer)]) == pytest.approx(float(expected), rel=1e-5)
