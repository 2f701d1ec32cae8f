"""SchedulerSpec: every scheduler config builds and steps; warm-up, one-cycle and plateau."""

from functools import partial
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau, StepLR

from src.errors import ConfigError
from src.experiments import build
from src.experiments.train import train
from src.optim import SchedulerSpec
from tests.conftest import CONF, Compose

SCHEDULERS = sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml"))


def sgd(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def trainer(steps: int = 40) -> Any:
    return SimpleNamespace(estimated_stepping_batches=steps)


def lrs(schedule: dict[str, Any], optimizer: torch.optim.Optimizer, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule["scheduler"].step()
    return [round(v, 6) for v in out]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_scheduler_config_builds_and_steps(compose_cfg: Compose, name: str) -> None:
    cfg = compose_cfg(f"scheduler={name}")
    spec: SchedulerSpec = build.instantiate(cfg, "scheduler")
    optimizer = build.instantiate(cfg, "optimizer")([torch.nn.Parameter(torch.zeros(1))])
    schedule = spec.build(optimizer, trainer())  # type: ignore[arg-type]
    if name == "none":
        assert schedule is None
        return
    assert schedule is not None and schedule["interval"] == cfg.scheduler.interval
    seen = set()
    for _ in range(12):
        seen.add(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if isinstance(schedule["scheduler"], ReduceLROnPlateau):
            schedule["scheduler"].step(1.0)  # a metric that never improves
        else:
            schedule["scheduler"].step()
    assert len(seen) > 1  # the schedule moves the lr


def test_warmup_ramps_linearly_then_hands_over() -> None:
    spec = SchedulerSpec(partial(StepLR, step_size=2, gamma=0.5), warmup=3, warmup_start_factor=0.1)
    optimizer = sgd(1.0)
    schedule = spec.build(optimizer, trainer())  # type: ignore[arg-type]
    assert schedule is not None
    # 3 warm-up intervals 0.1 -> 0.4 -> 0.7, then StepLR from the full lr, halving every 2
    assert lrs(schedule, optimizer, 8) == [0.1, 0.4, 0.7, 1.0, 1.0, 0.5, 0.5, 0.25]


def test_no_warmup_starts_at_full_lr(compose_cfg: Compose) -> None:
    cfg = compose_cfg("scheduler=step", "scheduler.factory.step_size=1", "optimizer.lr=0.5")
    optimizer = build.instantiate(cfg, "optimizer")([torch.nn.Parameter(torch.zeros(1))])
    schedule = build.instantiate(cfg, "scheduler").build(optimizer, trainer())
    assert lrs(schedule, optimizer, 3) == [0.5, 0.05, 0.005]


def test_cosine_warmup_from_config(compose_cfg: Compose) -> None:
    cfg = compose_cfg("scheduler=cosine", "scheduler.warmup=2", "optimizer.lr=1.0")
    optimizer = build.instantiate(cfg, "optimizer")([torch.nn.Parameter(torch.zeros(1))])
    schedule = build.instantiate(cfg, "scheduler").build(optimizer, trainer())
    got = lrs(schedule, optimizer, 4)
    assert got[:3] == [0.1, 0.55, 1.0] and got[3] < 1.0


def test_onecycle_total_steps_come_from_the_trainer(compose_cfg: Compose) -> None:
    cfg = compose_cfg("scheduler=onecycle", "optimizer.lr=0.2")
    optimizer = build.instantiate(cfg, "optimizer")([torch.nn.Parameter(torch.zeros(1))])
    schedule = build.instantiate(cfg, "scheduler").build(optimizer, trainer(37))
    scheduler = schedule["scheduler"]
    assert isinstance(scheduler, OneCycleLR) and scheduler.total_steps == 37
    assert schedule["interval"] == "step"
    peak = max(lrs(schedule, optimizer, 37))
    assert peak == pytest.approx(0.2, rel=1e-3)  # max_lr is optimizer.lr by interpolation
    with pytest.raises(
        ValueError, match=r"Tried to step 38 times\. The specified number of total steps is 37"
    ):
        scheduler.step()


def test_onecycle_run_with_accumulation(compose_cfg: Compose) -> None:
    # 3 batches x 2 epochs with accumulation 2: Lightning steps the optimizer 4 times; a wrong
    # total_steps makes OneCycleLR raise when it is stepped past its end
    cfg = compose_cfg(
        "scheduler=onecycle", "trainer.max_epochs=2", "trainer.accumulate_grad_batches=2"
    )
    metrics = train(cfg)
    assert metrics["global_step"] == 4 and metrics["epochs"] == 2


def test_plateau_monitors_the_configured_metric(compose_cfg: Compose) -> None:
    cfg = compose_cfg(
        "scheduler=plateau", "scheduler.monitor=val/acc", "scheduler.factory.mode=max"
    )
    optimizer = build.instantiate(cfg, "optimizer")([torch.nn.Parameter(torch.zeros(1))])
    schedule = build.instantiate(cfg, "scheduler").build(optimizer, trainer())
    assert isinstance(schedule["scheduler"], ReduceLROnPlateau)
    assert schedule["monitor"] == "val/acc" and schedule["interval"] == "epoch"


def test_plateau_run_finds_its_metric(compose_cfg: Compose) -> None:
    # Lightning raises at the end of the first epoch if the monitored metric was never logged
    metrics = train(compose_cfg("scheduler=plateau", "trainer.max_epochs=2"))
    assert metrics["epochs"] == 2


def test_plateau_with_warmup_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"scheduler\.warmup=2: expected 0 with ReduceLROnPlateau"
    ):
        SchedulerSpec(partial(ReduceLROnPlateau, patience=1), warmup=2)


def test_cosine_without_t_max_spans_the_run_after_the_warmup() -> None:
    from src.optim import cosine_annealing

    optimizer = sgd(1.0)
    spec = SchedulerSpec(partial(cosine_annealing, T_max=None, eta_min=0.1), "step", warmup=10)
    schedule = spec.build(optimizer, trainer(steps=50))
    assert schedule is not None
    rates = lrs(schedule, optimizer, 51)
    assert rates[10] == 1.0  # warm-up over, cosine starts at the full lr
    assert rates[50] == 0.1  # ... and reaches eta_min at the run's last step
    assert all(a >= b for a, b in pairwise(rates[10:]))
