"""Ranking metrics over candidate lists with one relevant item each (leave-last-out), and
RMSE of predicted ratings.

Each takes ``scores`` (B, C) and ``target`` (B, C), the target being > 0 for the row's one
relevant item (1, or its rating) and 0 for the others; excluded candidates are scored -inf.
The rank of the relevant item counts every other candidate scored at least as high (ties
count against it: a model that scores everything alike gets 0, not 1). Per row, HR@K is 1 if
that rank is below K, NDCG@K is 1 / log2(rank + 2) then, else 0; the epoch's value is their
mean over rows. They equal torchmetrics' RetrievalHitRate and RetrievalNormalizedDCG
(tests/modules/test_recommendation.py) but keep two numbers, not every score of the epoch:
full ranking of MovieLens-1M would hold 22 M scores, targets and indexes in those.
"""

from collections.abc import Callable
from typing import Any

import torch
from torchmetrics import Metric


def relevant_rank(scores: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rank of each row's relevant item (R,), rows that have one (B,) bool)."""
    has = (target > 0).any(dim=1)
    positive = target.argmax(dim=1, keepdim=True)  # (B, 1)
    own = scores.gather(1, positive)  # (B, 1)
    rank = (scores >= own).sum(dim=1) - 1  # the item itself is not counted
    return rank[has], has


def _hit(rank: torch.Tensor, k: int) -> torch.Tensor:
    return (rank < k).double()


def _ndcg(rank: torch.Tensor, k: int) -> torch.Tensor:
    gain = 1.0 / torch.log2(rank.double() + 2.0)
    return torch.where(rank < k, gain, torch.zeros_like(gain))


class _RowMean(Metric):
    """The mean over rows of ``value(rank, k)``."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True
    total: torch.Tensor
    count: torch.Tensor

    def __init__(
        self, k: int, value: Callable[[torch.Tensor, int], torch.Tensor], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.k, self.value = k, value
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, scores: torch.Tensor, target: torch.Tensor) -> None:
        rank, _ = relevant_rank(scores, target)
        self.total += self.value(rank, self.k).sum().double()
        self.count += len(rank)

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp(min=1)).float()


class HitRate(_RowMean):
    """HR@K: the share of rows whose relevant item ranks in the top ``k``."""

    def __init__(self, k: int = 10, **kwargs: Any) -> None:
        super().__init__(k, _hit, **kwargs)


class NDCG(_RowMean):
    """NDCG@K: 1 / log2(rank + 2) when the relevant item ranks in the top ``k``, else 0."""

    def __init__(self, k: int = 10, **kwargs: Any) -> None:
        super().__init__(k, _ndcg, **kwargs)


class RatingRMSE(Metric):
    """Root mean squared error of the scores of the relevant items against their ratings
    (for explicit feedback, where the scores are predicted ratings)."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = False
    squared: torch.Tensor
    count: torch.Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("squared", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, scores: torch.Tensor, target: torch.Tensor) -> None:
        rated = target > 0
        self.squared += (scores[rated] - target[rated]).double().pow(2).sum()
        self.count += int(rated.sum())

    def compute(self) -> torch.Tensor:
        return (self.squared / self.count.clamp(min=1)).sqrt().float()
