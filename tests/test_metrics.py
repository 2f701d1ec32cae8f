"""The confusion-matrix metrics give torchmetrics' values, and share one matrix per split."""

import pytest
import torch
import torchmetrics
import torchmetrics.classification as tmc

from src.metrics import Accuracy, F1Score, Mean, Precision, Recall, auroc
from src.modules.supervised import split_metrics

OURS = {"acc": Accuracy, "precision": Precision, "recall": Recall, "f1": F1Score}
THEIRS = {
    "acc": tmc.Accuracy,
    "precision": tmc.Precision,
    "recall": tmc.Recall,
    "f1": tmc.F1Score,
}


def _batches(task: str, num_classes: int, seed: int, absent: int | None):
    g = torch.Generator().manual_seed(seed)
    for size in (17, 64, 5):
        if task == "binary":
            yield torch.rand(size, generator=g), torch.randint(0, 2, (size,), generator=g)
            continue
        logits = torch.randn(size, num_classes, generator=g)
        target = torch.randint(0, num_classes, (size,), generator=g)
        if absent is not None:  # a class that is neither a target nor ever predicted
            logits[:, absent] = -1e9
            target[target == absent] = (absent + 1) % num_classes
        yield logits.softmax(-1), target


@pytest.mark.parametrize(
    ("task", "num_classes", "absent"),
    [("multiclass", 10, None), ("multiclass", 7, 3), ("multiclass", 3, None), ("binary", 2, None)],
)
@pytest.mark.parametrize("name", list(OURS))
def test_values_equal_torchmetrics(
    task: str, num_classes: int, absent: int | None, name: str
) -> None:
    ours = OURS[name](task, num_classes)
    kw = {"task": task} | ({"num_classes": num_classes} if task == "multiclass" else {})
    if name != "acc" and task == "multiclass":
        kw["average"] = "macro"
    theirs = THEIRS[name](**kw)
    for seed in range(3):
        for preds, target in _batches(task, num_classes, seed, absent):
            ours.update(preds, target)
            theirs.update(preds, target)
        torch.testing.assert_close(ours.compute(), theirs.compute())
        ours.reset()
        theirs.reset()


def test_a_collection_updates_one_matrix_for_all_four() -> None:
    metrics = {name: cls("multiclass", 10) for name, cls in OURS.items()}
    collection = split_metrics(metrics | {"auroc": auroc("multiclass", 10)}, "val/")
    preds, target = next(_batches("multiclass", 10, 0, None))
    collection.update(preds, target)
    collection.update(preds, target)
    groups = [sorted(g) for g in collection.compute_groups.values()]
    assert ["acc", "f1", "precision", "recall"] in groups
    values = collection.compute()
    assert set(values) == {f"val/{n}" for n in ("acc", "precision", "recall", "f1", "auroc")}
    confmat = collection["f1"].confmat  # type: ignore[union-attr]
    assert int(confmat.sum()) == 2 * len(target)


def test_mean_is_the_weighted_mean_and_keeps_a_nan() -> None:
    ours, theirs = Mean(), torchmetrics.MeanMetric()
    for value, weight in [(1.0, 3), (4.0, 1), (2.5, 2)]:
        ours.update(torch.tensor(value), weight)
        theirs.update(torch.tensor(value), weight)
    torch.testing.assert_close(ours.compute(), theirs.compute())
    ours.update(torch.tensor(float("nan")), 2)
    assert torch.isnan(ours.compute())
