"""scikit-learn's digits restricted to some classes: two related image sets for transfer
learning (pretrain on digits 0-4, fine-tune on few images of digits 5-9)."""

from collections.abc import Sequence

import numpy as np

from src.data.sources import Arrays, load_digits
from src.errors import ConfigError


def load_digit_classes(
    classes: Sequence[int], train_per_class: int | None = None, seed: int = 0
) -> Arrays:
    """The digits of ``classes``, relabelled 0..len(classes)-1 in that order.

    Args:
        classes: digits to keep, e.g. [5, 6, 7, 8, 9].
        train_per_class: few-shot: this many images per class (drawn with ``seed``) form the
            training data and all the others the test split; None: every image, split by the
            datamodule.
        seed: seed of the few-shot draw.
    """
    if not classes or any(c not in range(10) for c in classes) or len(set(classes)) < 2:
        raise ConfigError(
            "dataset.source.classes", list(classes), "two or more distinct digits in 0..9"
        )
    digits = load_digits()
    keep = np.isin(digits.y, classes)
    x, digit = digits.inputs["x"][keep], digits.y[keep]
    y = np.array([list(classes).index(d) for d in digit], dtype=np.int64)
    names = [str(c) for c in classes]
    if train_per_class is None:
        return Arrays(x, y, class_names=names)
    smallest = int(np.bincount(y).min())
    if not 2 <= train_per_class < smallest:
        raise ConfigError(
            "dataset.source.train_per_class", train_per_class, f"an integer in 2..{smallest - 1}"
        )
    rng = np.random.default_rng(seed)
    train = np.concatenate(
        [
            rng.choice(np.flatnonzero(y == k), train_per_class, replace=False)
            for k in range(len(classes))
        ]
    )
    test = np.setdiff1d(np.arange(len(y)), train)
    return Arrays(x[train], y[train], x[test], y[test], class_names=names)
