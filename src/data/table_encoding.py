"""How a table becomes float rows: column kinds, categories and class names, learned once.

:func:`learn_encoding` reads every row of the training file (the one-hot width must be known
before the model is built, so it is the file's categories); :func:`encode_features` and
:func:`encode_target` turn a table into arrays with that encoding, NaN where a cell is missing.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from src.data.table import Table, as_numbers, canonical
from src.errors import ConfigError, DataError

log = logging.getLogger(__name__)
Warn = Callable[[str], None]


@dataclass
class Encoding:
    """How a table becomes float rows: learned from the training file, saved in checkpoints.

    Attributes:
        task: ``multiclass``, ``binary`` or ``regression``.
        target: the target column(s).
        features: the feature columns, in the order of the encoded columns.
        categories: text column -> its categories, one encoded column each (sorted).
        class_names: the class labels (classification); class i is ``class_names[i]``.
        means: per encoded column, its mean over the training rows (missing cells' fill).
        known: per encoded column, whether the training rows hold it (a category they lack
            is encoded as an all-zero row).
    """

    task: str
    target: list[str]
    features: list[str]
    categories: dict[str, list[str]]
    class_names: list[str] | None
    means: list[float] = field(default_factory=list)
    known: list[bool] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Encoded columns: one per numeric feature, one per category of a text feature."""
        return sum(len(self.categories.get(f, [None])) for f in self.features)

    @property
    def num_outputs(self) -> int:
        if self.task == "regression":
            return len(self.target)
        return 1 if self.task == "binary" else len(self.class_names or [])


def learn_encoding(
    table: Table,
    target: Sequence[str],
    features: Sequence[str] | None,
    categorical: Sequence[str] | None,
    task: str,
) -> Encoding:
    """The columns' kinds, categories and class names from every row of ``table``."""
    return _learn(table, tuple(target), names_of(features), names_of(categorical), task)


def names_of(names: Sequence[str | int] | None) -> tuple[str, ...] | None:
    """Column names as a tuple of text (a file without header names its columns 0, 1, ...)."""
    return None if names is None else tuple(str(n) for n in names)


@lru_cache(maxsize=8)
def _learn(
    table: Table,
    target: tuple[str, ...],
    features: tuple[str, ...] | None,
    categorical: tuple[str, ...] | None,
    task: str,
) -> Encoding:
    table.require(list(target), "dataset.target")
    if len(target) > 1 and task != "regression":
        raise ConfigError(
            "dataset.target",
            list(target),
            "one column for a classification task",
            "set dataset.task=regression to predict several numbers",
        )
    names = list(features) if features is not None else [n for n in table.names if n not in target]
    table.require(names, "dataset.features")
    if set(names) & set(target):
        raise ConfigError("dataset.features", names, "columns other than dataset.target")
    if categorical is not None:
        table.require(list(categorical), "dataset.categorical")
    categories = {}
    for name in names:
        cells = table.columns[name]
        if all(c is None for c in cells):
            raise DataError(
                f"column {name!r} of {table.path} has no values. Fix: fill it, or leave it out "
                "of dataset.features"
            )
        text = as_numbers(cells) is None if categorical is None else name in categorical
        if text:
            categories[name] = _sorted(set(canonical(cells)) - {None})
    class_names = None if task == "regression" else _class_names(table, target[0], task)
    return Encoding(task, list(target), names, categories, class_names)


def _sorted(values: set[str]) -> list[str]:
    """Numerically when every value is a number (2 before 10), else as text."""
    numbers = as_numbers(np.array(sorted(values), dtype=object))
    if numbers is None:
        return sorted(values)
    return [v for _, v in sorted(zip(numbers.tolist(), sorted(values), strict=True))]


def _class_names(table: Table, target: str, task: str) -> list[str]:
    cells = table.columns[target]
    numbers = as_numbers(cells)
    if numbers is not None and not np.all(np.isnan(numbers) | (numbers == np.round(numbers))):
        example = next(v for v in numbers if not np.isnan(v) and v != round(v))
        raise ConfigError(
            "dataset.task",
            task,
            f"regression for a target of non-integer numbers (column {target!r} holds {example:g})",
            "set dataset.task=regression",
        )
    names = _sorted(set(canonical(cells)) - {None})
    if len(names) < 2:
        raise ConfigError(
            "dataset.target",
            target,
            f"a column with at least 2 classes; {table.path} has {len(names)}: {names}",
            "pick another target column, or fix the file",
        )
    if task == "binary" and len(names) != 2:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise ConfigError(
            "dataset.task",
            task,
            f"a target with 2 classes; {target!r} has {len(names)} ({shown})",
            "set dataset.task=multiclass",
        )
    return names


def encode_features(table: Table, enc: Encoding, warn: Warn = log.warning) -> np.ndarray:
    """(N, enc.width) float rows; NaN where a cell is missing (a text cell: its whole block);
    a category the encoding lacks is an all-zero block (``warn`` says so)."""
    table.require(enc.features, "dataset.features")
    blocks = []
    for name in enc.features:
        cells = table.columns[name]
        if name not in enc.categories:
            numbers = as_numbers(cells)
            if numbers is None:
                bad = next(c for c in cells if c is not None and as_numbers(np.array([c])) is None)
                raise DataError(
                    f"column {name!r} of {table.path} holds {bad!r}, but the encoding reads it "
                    "as numbers (it was numeric in the training file). Fix the cell"
                )
            blocks.append(numbers[:, None])
            continue
        cats = enc.categories[name]
        index = {c: i for i, c in enumerate(cats)}
        codes = np.array([index.get(c, -1) if c is not None else -2 for c in canonical(cells)])
        block = (codes[:, None] == np.arange(len(cats))).astype(np.float64)
        block[codes == -2] = np.nan
        if (unseen := cells[codes == -1]).size:
            shown = ", ".join(map(repr, sorted(set(unseen))[:5]))
            warn(
                f"column {name!r} of {table.path}: {len(unseen)} rows hold categories the model "
                f"was not trained on ({shown}): encoded as all zeros"
            )
        blocks.append(block)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((table.num_rows, 0))


def encode_target(table: Table, enc: Encoding, warn: Warn = log.warning) -> np.ndarray | None:
    """(N,) class indices (-1: missing or unknown label), (N,) or (N, K) float values (NaN:
    missing) for regression; None when the file has no target column."""
    if any(t not in table.columns for t in enc.target):
        return None
    if enc.task == "regression":
        values = [_numeric_target(table, t) for t in enc.target]
        y = np.stack(values, axis=1) if len(values) > 1 else values[0]
        return y.astype(np.float32)
    index = {c: i for i, c in enumerate(enc.class_names or [])}
    labels = canonical(table.columns[enc.target[0]])
    unknown = sorted({c for c in labels if c is not None and c not in index})
    if unknown:
        shown = ", ".join(map(repr, unknown[:5]))
        warn(
            f"target {enc.target[0]!r} of {table.path}: labels the model was not trained on "
            f"({shown}) get class -1"
        )
    return np.array([index.get(c, -1) if c is not None else -1 for c in labels], dtype=np.int64)


def _numeric_target(table: Table, name: str) -> np.ndarray:
    cells = table.columns[name]
    numbers = as_numbers(cells)
    if numbers is None:
        row, bad = next((i, c) for i, c in enumerate(cells) if as_numbers(np.array([c])) is None)
        raise DataError(
            f"target {name!r} of {table.path} holds {bad!r} in data row {row + 1}: a regression "
            "target must be numbers. Fix the cell, or set dataset.task=multiclass"
        )
    return numbers
