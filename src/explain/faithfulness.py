"""Do the attributions point at what the model uses? Two checks on the model's own inputs.

* Rows (tabular): replace each row's k most attributed features by the baseline (the features'
  means) and measure the accuracy; the same for its k least attributed ones. Faithful
  attributions lose far more with the top k.
* Images and signals (the deletion curve, Samek et al., 2017): set the top-attributed fraction
  of each input's values to the baseline and measure the probability of the class first
  predicted; against the same fraction of values chosen at random.
"""

from collections.abc import Sequence

import torch

from src.explain.methods import Forward

DELETED_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.5)


def _accuracy(forward: Forward, x: torch.Tensor, target: torch.Tensor) -> float:
    with torch.no_grad():
        return float((forward(x).argmax(-1) == target).float().mean())


def feature_removal(
    forward: Forward,
    x: torch.Tensor,
    target: torch.Tensor,
    attributions: torch.Tensor,
    baseline: torch.Tensor,
    k: int,
) -> dict[str, float]:
    """Accuracy on rows ``x`` (N, F) as they are, and with each row's top-k / bottom-k features
    by ``attributions`` (N, F) (absolute values) set to ``baseline`` (1, F)."""
    order = attributions.abs().argsort(dim=1, descending=True)  # (N, F) most important first

    def removed(columns: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(x, dtype=torch.bool).scatter_(1, columns, True)
        return torch.where(mask, baseline.expand_as(x), x)

    return {
        "acc": _accuracy(forward, x, target),
        f"acc_without_top{k}": _accuracy(forward, removed(order[:, :k]), target),
        f"acc_without_bottom{k}": _accuracy(forward, removed(order[:, -k:]), target),
    }


def deletion(
    forward: Forward,
    x: torch.Tensor,
    attributions: torch.Tensor,
    baseline: float = 0.0,
    fractions: Sequence[float] = DELETED_FRACTIONS,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Mean probability of each input's predicted class after deleting (setting to
    ``baseline``) each fraction of its values: the most attributed first (``top``; signed, so
    evidence for the class goes first), or chosen at random (``random``)."""
    with torch.no_grad():
        predicted = forward(x).argmax(-1)
    flat = x.reshape(len(x), -1)
    ranked = attributions.reshape(len(x), -1).argsort(dim=1, descending=True)
    generator = torch.Generator().manual_seed(seed)
    shuffled = torch.stack([torch.randperm(flat.shape[1], generator=generator) for _ in flat])
    curves: dict[str, list[float]] = {"fractions": list(fractions), "top": [], "random": []}
    for fraction in fractions:
        count = max(1, round(fraction * flat.shape[1]))
        for name, order in (("top", ranked), ("random", shuffled)):
            deleted = flat.clone().scatter_(1, order[:, :count], baseline).reshape(x.shape)
            with torch.no_grad():
                probs = forward(deleted).softmax(-1)
            curves[name].append(float(probs.gather(1, predicted[:, None]).mean()))
    return curves
