"""The task contract: a task defined only in tests/ (tests/toy/) runs through the unchanged
entries (train, eval, predict, compare) and the Optuna sweeper; callbacks work under manual
optimisation."""

import csv
import json
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from src.callbacks.monitoring import GradNormMonitor
from src.data.loader import TensorLoader
from src.experiments import run
from src.sweep.trial import FiniteLoss, NonFiniteMetricError
from src.utils.runs import read_curves
from tests.conftest import ROOT, Compose, run_cli

TOY = [f"hydra.searchpath=[file://{ROOT / 'tests' / 'toy' / 'conf'}]", "experiment=toy"]


def test_a_task_from_tests_trains_evaluates_predicts_and_compares(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    for lr in (0.01, 0.0001):
        cfg = compose_cfg(*TOY, f"optimizer.lr={lr}", run_dir=runs / str(lr))
        objective = run(cfg)
        assert objective is not None and math.isfinite(objective)
    metrics = json.loads((runs / "0.01" / "metrics.json").read_text())
    assert {"val/mse", "test/mse", "val/loss"} <= set(metrics)
    worst = json.loads((runs / "0.01" / "worst_reconstructions.json").read_text())
    assert worst["samples"] > 0 and len(worst["worst"]) == 5  # the task's own artefact

    ckpt = runs / "0.01" / "checkpoints" / "last.ckpt"
    evaluated = run(compose_cfg(*TOY, "mode=eval", f"ckpt_path={ckpt}", run_dir=tmp_path / "e"))
    assert evaluated == pytest.approx(metrics["val/mse"], rel=1e-5)

    run(compose_cfg(*TOY, "mode=predict", f"ckpt_path={ckpt}", run_dir=tmp_path / "p"))
    with (tmp_path / "p" / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "error", *(f"code_{i}" for i in range(8))]

    run(compose_cfg(*TOY, "mode=compare", f"compare.runs={runs}", run_dir=tmp_path / "c"))
    with (tmp_path / "c" / "comparison.csv").open() as f:
        ranked = [float(r["val/mse"]) for r in csv.DictReader(f)]
    assert len(ranked) == 2 and ranked == sorted(ranked)  # minimised: lowest first


def test_best_checkpoint_follows_the_objective_direction(compose_cfg: Compose) -> None:
    cfg = compose_cfg(*TOY, "trainer.max_epochs=3", "optimizer.lr=0.02")
    run(cfg)
    out = Path(cfg.paths.output_dir)
    metrics = json.loads((out / "metrics.json").read_text())
    curves = read_curves(out / "csv" / "metrics.csv", metrics["epochs"])
    per_epoch = {int(r["epoch"]): r["val/mse"] for r in curves}
    assert len(per_epoch) == 3 and len(set(per_epoch.values())) == 3
    lowest = min(per_epoch, key=per_epoch.__getitem__)
    assert Path(metrics["best_checkpoint"]).stem == f"epoch_{lowest:03d}"
    assert metrics["val/mse"] == pytest.approx(per_epoch[lowest], rel=1e-5)


@pytest.mark.slow
def test_a_task_from_tests_sweeps_with_optuna(tmp_path: Path) -> None:
    import optuna

    out = run_cli(
        tmp_path,
        "-m",
        *TOY,
        "hparams_search=toy_optuna",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=2",
        "test=false",
        "print_config=false",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    study = optuna.load_study(
        study_name="hydralit", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}"
    )
    assert study.direction == optuna.study.StudyDirection.MINIMIZE  # from optimized_mode: min
    values = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(values) == 3 and study.best_value == min(values)


class TwoOptimizers(pl.LightningModule):
    """Manual optimisation with two networks and two optimizers, like a GAN's G and D."""

    def __init__(self, nan_at_step: int | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.a, self.b = nn.Linear(4, 1), nn.Linear(4, 1)
        self.nan_at_step = nan_at_step

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        opt_a, opt_b = self.optimizers()  # type: ignore[misc]
        for net, opt in ((self.a, opt_a), (self.b, opt_b)):
            loss = net(batch["x"]).pow(2).mean()
            if net is self.b and self.global_step // 2 == self.nan_at_step:
                loss = loss * float("nan")
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self.a(batch["x"]).pow(2).mean())

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            torch.optim.SGD(self.a.parameters(), 0.1),
            torch.optim.SGD(self.b.parameters(), 0.1),
        ]


def _fit(module: pl.LightningModule, callbacks: list[pl.Callback]) -> pl.Trainer:
    data = {"x": torch.randn(64, 4), "target": torch.zeros(64)}
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(module, TensorLoader(data, 16), TensorLoader(data, 16))
    return trainer


def test_grad_norm_per_optimizer_under_manual_optimisation() -> None:
    trainer = _fit(TwoOptimizers(), [GradNormMonitor()])
    logged = trainer.callback_metrics  # epoch means; one norm per optimizer, over its own params
    assert {"train/grad_norm_0_epoch", "train/grad_norm_1_epoch"} <= set(logged)
    assert "train/grad_norm_epoch" not in logged
    a, b = (float(logged[f"train/grad_norm_{i}_epoch"]) for i in (0, 1))
    assert a > 0 and b > 0 and a != b


def test_a_nan_in_any_optimizer_s_loss_fails_the_trial() -> None:
    with pytest.raises(NonFiniteMetricError, match=r"train/loss is nan at epoch 0"):
        _fit(TwoOptimizers(nan_at_step=1), [FiniteLoss()])
