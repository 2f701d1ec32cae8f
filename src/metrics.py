"""Classification metrics from one confusion matrix per split, and a running mean.

torchmetrics' own Accuracy/Precision/Recall/F1Score cost ~120 us per update of a 64-sample
batch on the CPU (input formatting and per-average branches); these count (target,
prediction) pairs into a confusion matrix with one ``bincount`` (~30 us), and within a
MetricCollection the four share that one matrix (torchmetrics' compute groups). They are
torchmetrics Metrics, so DDP reduction (a sum of matrices), ``self.log`` and reset work as
for any other. Values equal torchmetrics' (``task``-style ``average="micro"`` accuracy, and
``average="macro"`` precision, recall and F1 that leave out classes neither present nor
predicted): tests/test_metrics.py compares them on random data.
"""

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.classification import AUROC
from torchmetrics.utilities.data import _bincount


def _safe_divide(num: torch.Tensor, denom: torch.Tensor) -> torch.Tensor:
    return num / denom.clamp(min=1)  # counts: 0 / 0 -> 0, as torchmetrics' zero_division=0


class ConfusionMetric(Metric):
    """Counts of (target, predicted class) over the epoch; subclasses turn them into a score.

    Args:
        task: ``multiclass`` (inputs are (B, C) probabilities or logits; the prediction is the
            argmax) or ``binary`` (inputs are (B,) probabilities of class 1; predicted 1 from
            0.5).
        num_classes: number of classes (2 when binary).
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True
    confmat: torch.Tensor

    def __init__(self, task: str, num_classes: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.binary = task == "binary"
        self.num_classes = 2 if self.binary else num_classes
        n = self.num_classes
        self.add_state("confmat", torch.zeros(n, n, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        pred = (preds >= 0.5).long() if self.binary else preds.argmax(-1)
        n = self.num_classes
        # _bincount: torch.bincount, or an equivalent where it is not deterministic
        counts = _bincount(target.long() * n + pred, minlength=n * n)
        self.confmat.add_(counts.view(n, n))

    def _counts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-class true positives, false positives, false negatives (class 1's when binary)."""
        cm = self.confmat
        tp = cm.diag()
        fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
        return (tp[1], fp[1], fn[1]) if self.binary else (tp, fp, fn)

    def _macro(
        self, score: torch.Tensor, tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor
    ) -> torch.Tensor:
        if self.binary:
            return score
        seen = (tp + fp + fn) > 0  # classes neither in the targets nor predicted do not count
        return (score * seen).sum() / seen.sum().clamp(min=1)


class Accuracy(ConfusionMetric):
    """Fraction of samples whose predicted class is the target (micro average)."""

    def compute(self) -> torch.Tensor:
        return _safe_divide(self.confmat.diag().sum(), self.confmat.sum()).float()


class Precision(ConfusionMetric):
    """TP / (TP + FP): of class 1 when binary, else the macro average over classes."""

    def compute(self) -> torch.Tensor:
        tp, fp, fn = self._counts()
        return self._macro(_safe_divide(tp, tp + fp), tp, fp, fn).float()


class Recall(ConfusionMetric):
    """TP / (TP + FN): of class 1 when binary, else the macro average over classes."""

    def compute(self) -> torch.Tensor:
        tp, fp, fn = self._counts()
        return self._macro(_safe_divide(tp, tp + fn), tp, fp, fn).float()


class F1Score(ConfusionMetric):
    """2 TP / (2 TP + FP + FN): of class 1 when binary, else the macro average over classes."""

    def compute(self) -> torch.Tensor:
        tp, fp, fn = self._counts()
        return self._macro(_safe_divide(2 * tp, 2 * tp + fp + fn), tp, fp, fn).float()


class Mean(Metric):
    """Weighted mean of the values passed to ``update`` (e.g. a batch loss weighted by the
    batch size). Unlike torchmetrics' MeanMetric, a NaN is kept, not dropped with a warning:
    a NaN loss shows as a NaN epoch loss."""

    full_state_update = False
    total: torch.Tensor
    weight: torch.Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("weight", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, weight: float = 1.0) -> None:
        self.total.add_(value.detach(), alpha=weight)
        self.weight.add_(weight)

    def compute(self) -> torch.Tensor:
        return self.total / self.weight


def auroc(task: str, num_classes: int = 2) -> Metric:
    """torchmetrics' AUROC (macro one-vs-rest when multiclass) for probabilities.

    The inputs are softmax/sigmoid outputs and data-set labels, valid by construction: skipping
    torchmetrics' per-update checks saves a fifth of the update time.
    """
    if task == "multiclass":
        return AUROC("multiclass", num_classes=num_classes, average="macro", validate_args=False)
    return AUROC("binary", validate_args=False)
