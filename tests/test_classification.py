"""The classification module's metrics per split, as configured by model.metrics/train_metrics."""

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
