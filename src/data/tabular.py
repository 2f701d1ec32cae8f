"""Your own table (``dataset=csv``): feature columns and a target column of a CSV or Parquet file.

:class:`CsvSource` encodes the file as float rows for
:class:`~src.data.datamodule.InMemoryDataModule`, which splits and standardises them:

- numeric columns are used as they are; text columns (or those in ``dataset.categorical``)
  are one-hot encoded. The one-hot width is the training file's categories, known before the
  model is built; a category that the *training rows* lack (it is only in validation/test rows,
  or only in a file predicted later) is encoded as an all-zero row, with a warning.
- a missing cell follows ``dataset.missing``: ``mean`` (the column's mean over the training
  rows; for a text column, each category's share), ``zero``, ``drop`` (leave the row out) or
  ``error``.
- the target is class labels (text or integers, named by their sorted values; the positive
  class of a binary task is the second) or, with ``dataset.task=regression``, numbers: one
  column, or a list of columns for several outputs.

The encoding (feature order, categories, class names, fill values) is the source's
:meth:`CsvSource.state_dict`, saved in every checkpoint; loaded back, a new file is encoded
the same way, and its target column may be absent (the target is then -1, or NaN for
regression).
"""

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from src.data.sources import Arrays
from src.data.table import Table, read_table
from src.data.table_encoding import (
    Encoding,
    encode_features,
    encode_target,
    learn_encoding,
    names_of,
)
from src.errors import ConfigError, DataError

if TYPE_CHECKING:
    from src.data.datamodule import InMemoryDataModule

log = logging.getLogger(__name__)

MISSING_POLICIES = ("mean", "zero", "drop", "error")


class CsvSource:
    """A table file as :class:`~src.data.sources.Arrays`: encoded features ``x`` (N, F), the
    target ``y``, and class names. A :class:`~src.data.sources.FittedSource`: fill values and
    known categories are learned from the training rows (:meth:`fit`); the encoding is its state.

    Args:
        path: CSV (any delimited text) or Parquet (``.parquet``/``.pq``; needs pyarrow) file.
        target: the target column, or a list of columns (regression with several outputs).
        features: the feature columns; None: every other column.
        categorical: columns to one-hot encode; None: those holding text.
        task: ``multiclass``, ``binary`` or ``regression``.
        missing: what a missing cell becomes: ``mean``, ``zero``, ``drop``, ``error``.
        separator: field separator of a text file.
        header: the first line names the columns (else they are named 0, 1, 2, ...).
        missing_values: cells read as missing; empty: "", NA, N/A, NaN, nan, null, None, ?.
    """

    def __init__(
        self,
        path: str,
        target: str | Sequence[str],
        features: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        task: str = "multiclass",
        missing: str = "mean",
        separator: str = ",",
        header: bool = True,
        missing_values: Sequence[str] = (),
    ) -> None:
        if missing not in MISSING_POLICIES:
            raise ConfigError("dataset.missing", missing, "one of " + ", ".join(MISSING_POLICIES))
        self.path, self.task, self.missing = path, task, missing
        self.target = [str(target)] if isinstance(target, str | int) else [str(t) for t in target]
        self.features, self.categorical = names_of(features), names_of(categorical)
        self.separator, self.header = separator, header
        self.missing_values = tuple(missing_values)
        self.encoding: Encoding | None = None
        self.loaded = False  # the encoding came from a checkpoint: new data are encoded with it
        self._warned: set[str] = set()  # the source is called several times per run

    def table(self) -> Table:
        return read_table(self.path, self.separator, self.header, self.missing_values)

    def learn(self) -> Encoding:
        """The encoding: loaded, or learned from every row of the file (until :meth:`fit`)."""
        if self.encoding is None:
            enc = learn_encoding(
                self.table(), self.target, self.features, self.categorical, self.task
            )
            self.encoding = Encoding(**asdict(enc))  # a copy: _fit sets its fill values
            x, _, keep = self._encode(self.encoding)
            self._fit(self.encoding, x[keep])
        return self.encoding

    # ---- FittedSource -----------------------------------------------------------------------
    def fit(self, rows: np.ndarray) -> None:
        """Learn fill values and known categories from these rows of the data returned."""
        enc = self.learn()
        x, _, keep = self._encode(enc)
        self._fit(enc, x[keep][rows])

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.learn())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["task"] != self.task:
            raise ConfigError("dataset.task", self.task, f"{state['task']}, the checkpoint's task")
        self.encoding, self.loaded = Encoding(**state), True

    # ---- encoding ---------------------------------------------------------------------------
    def __call__(self) -> Arrays:
        enc = self.learn()
        x, y, keep = self._encode(enc)
        x, y = x[keep], y[keep]
        fill = np.asarray(enc.means) if self.missing == "mean" else np.zeros(enc.width)
        x = np.where(np.isnan(x), fill, x)
        known = np.asarray(enc.known, dtype=bool)
        self._warn_untrained(x[:, ~known])
        x[:, ~known] = 0.0  # categories the training rows lack: as if unseen
        return Arrays(x.astype(np.float32), y, class_names=enc.class_names)

    def _encode(self, enc: Encoding) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features (NaN where missing), target, and which rows to keep (``drop`` policy)."""
        table = self.table()
        x = encode_features(table, enc, self._warn)
        y = encode_target(table, enc, self._warn)
        if y is None:  # predicting new rows: the target is optional
            if not self.loaded:
                table.require(enc.target, "dataset.target")
            y = _no_target(len(x), enc)
            unlabelled = np.zeros(len(x), dtype=bool)
        else:
            unlabelled = np.isnan(y.reshape(len(y), -1)).any(1) if y.dtype.kind == "f" else y < 0
        gaps = np.isnan(x).any(axis=1)
        if self.missing == "drop":
            keep = ~(gaps | unlabelled)
            if not keep.all():
                self._warn(f"{table.path}: {(~keep).sum()} rows with missing values left out")
            return x, y, keep
        if self.missing == "error" and gaps.any():
            raise self._missing_error(table, x, gaps)
        if unlabelled.any() and not self.loaded:
            raise _missing_target_error(table, enc.target, unlabelled)
        return x, y, np.ones(len(x), dtype=bool)

    def _fit(self, enc: Encoding, x: np.ndarray) -> None:
        observed = (~np.isnan(x)).sum(axis=0)
        if len(x) and (empty := np.flatnonzero(observed == 0)).size:
            raise DataError(
                f"column {self._feature_of(int(empty[0]))!r} of {self.path} has no value in the "
                "training rows. Fix: fill it, or leave it out of dataset.features"
            )
        enc.means = np.nanmean(x, axis=0).tolist() if len(x) else [0.0] * enc.width
        seen = np.nan_to_num(x).max(axis=0) > 0 if len(x) else np.ones(enc.width, dtype=bool)
        numeric = np.array([f not in enc.categories for f in self._features()], dtype=bool)
        enc.known = (seen | numeric).tolist()

    def _features(self) -> list[str]:
        """The feature each encoded column comes from."""
        enc = self.learn() if self.encoding is None else self.encoding
        return [f for f in enc.features for _ in enc.categories.get(f, [None])]

    def _feature_of(self, column: int) -> str:
        return self._features()[column]

    def _warn_untrained(self, hits: np.ndarray) -> None:
        if rows := int((hits > 0).any(axis=1).sum()) if hits.size else 0:
            self._warn(
                f"{self.path}: {rows} rows hold categories that no training row has: encoded as "
                "all zeros"
            )

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    def _missing_error(self, table: Table, x: np.ndarray, gaps: np.ndarray) -> DataError:
        rows = np.flatnonzero(gaps)
        column = self._feature_of(int(np.flatnonzero(np.isnan(x[rows[0]]))[0]))
        return DataError(
            f"{table.path}: {len(rows)} rows have missing values (the first: column {column!r}, "
            f"data row {rows[0] + 1}) and dataset.missing=error. Fix: fill them, or set "
            "dataset.missing=mean, zero or drop"
        )


def _no_target(n: int, enc: Encoding) -> np.ndarray:
    """The target of rows whose file has no target column: -1, or NaN for regression."""
    if enc.task != "regression":
        return np.full(n, -1, dtype=np.int64)
    return np.full((n, len(enc.target)) if len(enc.target) > 1 else n, np.nan, dtype=np.float32)


def _missing_target_error(table: Table, target: list[str], unlabelled: np.ndarray) -> DataError:
    rows = np.flatnonzero(unlabelled)
    shown = ", ".join(str(r + 1) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return DataError(
        f"target {', '.join(target)} of {table.path}: missing in {len(rows)} rows (data rows "
        f"{shown}). Fix: fill them, or set dataset.missing=drop to train on the other rows"
    )


def csv_datamodule(
    path: str,
    target: str | Sequence[str],
    task: str,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    missing: str = "mean",
    separator: str = ",",
    header: bool = True,
    missing_values: Sequence[str] = (),
    **datamodule: Any,
) -> "InMemoryDataModule":
    """An :class:`~src.data.datamodule.InMemoryDataModule` serving a :class:`CsvSource`: the
    ``dataset=csv`` config names the file's options and the DataModule's beside each other.

    Args:
        path, target, task, features, categorical, missing, separator, header, missing_values:
            see :class:`CsvSource`.
        **datamodule: the other arguments of InMemoryDataModule (input_shape, batch_size, ...).
    """
    from src.data.datamodule import InMemoryDataModule  # torch: not while resolving the config

    source = CsvSource(
        path, target, features, categorical, task, missing, separator, header, missing_values
    )
    return InMemoryDataModule(source, task=task, **datamodule)
