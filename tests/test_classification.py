"""The classification module's metrics per split, as configured by model.metrics/train_metrics."""

from src.config.validate import CLASSIFICATION_METRICS
from src.experiments.train import train
from src.modules.classification import METRICS
from tests.conftest import Compose


def test_the_validator_knows_every_metric_the_module_computes() -> None:
    assert tuple(METRICS) == CLASSIFICATION_METRICS


def test_training_split_computes_accuracy_alone_by_default(compose_cfg: Compose) -> None:
    metrics = train(compose_cfg())
    assert {"train/acc", "train/loss", "val/auroc", "val/f1", "test/auroc"} <= set(metrics)
    assert not {"train/f1", "train/auroc", "train/precision"} & set(metrics)


def test_metrics_per_split_follow_the_config(compose_cfg: Compose) -> None:
    metrics = train(
        compose_cfg("model.train_metrics=[acc,f1,auroc]", "model.metrics=[acc]", "test=false")
    )
    assert {"train/acc", "train/f1", "train/auroc", "val/acc"} <= set(metrics)
    assert not {"val/f1", "val/auroc"} & set(metrics)
