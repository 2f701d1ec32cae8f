"""The classification module's metrics per split, as configured by model.metrics/train_metrics."""

from pathlib import Path

import pytest
import torch

from src.experiments.train import train
from tests.conftest import Compose


def test_training_split_computes_accuracy_alone_by_default(compose_cfg: Compose) -> None:
    metrics = train(compose_cfg())
    assert {"train/acc", "train/loss", "val/auroc", "val/f1", "test/auroc"} <= set(metrics)
    assert not {"train/f1", "train/auroc", "train/precision"} & set(metrics)


def test_metrics_per_split_follow_the_config(compose_cfg: Compose) -> None:
    metrics = train(
        compose_cfg(
            "model.train_metrics=[acc,f1,auroc]",
            "~model.metrics.precision",
            "~model.metrics.recall",
            "test=false",
        )
    )
    assert {"train/acc", "train/f1", "train/auroc", "val/acc", "val/f1"} <= set(metrics)
    assert not {"val/precision", "val/recall"} & set(metrics)


def test_any_torchmetrics_metric_can_be_added_by_config(compose_cfg: Compose) -> None:
    top3 = (
        "+model.metrics.top3={_target_:torchmetrics.classification.MulticlassAccuracy,"
        "num_classes:10,top_k:3}"
    )
    metrics = train(compose_cfg(top3, "optimized_metric=val/top3", "test=false"))
    assert metrics["val/top3"] >= metrics["val/acc"]


def test_balanced_class_weights_travel_in_the_checkpoint(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    """Weights measured on the training split are saved, and eval uses them, not a placeholder."""
    from src.experiments.evaluate import evaluate

    trained = train(compose_cfg("model.class_weighting=balanced", run_dir=tmp_path / "train"))
    ckpt = torch.load(tmp_path / "train" / "checkpoints" / "last.ckpt", weights_only=False)
    weights = ckpt["state_dict"]["loss.weight"]
    assert weights.shape == (10,) and not torch.equal(weights, torch.ones(10))
    evaluated = evaluate(
        compose_cfg(
            "model.class_weighting=balanced",
            "mode=eval",
            f"ckpt_path={tmp_path / 'train' / 'checkpoints' / 'last.ckpt'}",
            run_dir=tmp_path / "eval",
        )
    )
    assert evaluated["test/loss"] == pytest.approx(trained["test/loss"], rel=1e-5)
