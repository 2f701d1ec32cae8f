"""Paired images and texts with a label (``dataset=digit_captions``, ``dataset=multimodal_file``).

A reader returns :class:`PairedRows`; :class:`MultimodalSource` encodes the texts with a
tokenizer learned from the training rows (saved in the checkpoint) and serves the inputs
``image`` (N, C, H, W), ``image_present`` (N,) (0: the row has no image), ``tokens``
(N, max_length) and ``lengths`` (N,) to the in-memory DataModule.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from src.errors import ConfigError, DataError

COLORS = ("red", "blue")
SHAPES = ("square", "circle", "triangle", "star", "ring", "cross")
PLACES = ("on the left", "on the right", "at the top", "below it", "in the corner")
SIZES = ("a small", "a big", "a faint", "a bright", "one")


@dataclass
class PairedRows:
    """Per row: an image (zeros where ``present`` is 0), a text, a label (None: unlabelled)."""

    images: np.ndarray  # (N, C, H, W) float32
    present: np.ndarray  # (N,) int64
    texts: list[str]
    labels: list[str | None]
    class_names: list[str] | None = None


class TextEncoder(Protocol):
    """A tokenizer learned from texts (e.g. ``src.data.vocabulary.WordVocabulary``)."""

    def fit(self, texts: Sequence[str]) -> None: ...

    def encode(self, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def digit_captions(seed: int = 0) -> PairedRows:
    """scikit-learn's 1,797 digit images, each with a generated caption; 10 classes.

    The label is (colour, digit mod 5): the image shows the digit but not the colour, the
    caption names the colour among distractor words but not the digit. So the image alone
    can reach 50 % accuracy, the text alone 20 %, both together what digit reading allows.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    color = rng.integers(len(COLORS), size=len(digits.target))
    texts = [
        f"{rng.choice(SIZES)} {COLORS[c]} {rng.choice(SHAPES)} {rng.choice(PLACES)}" for c in color
    ]
    names = [f"{c} {d}/{d + 5}" for c in COLORS for d in range(5)]
    labels: list[str | None] = [
        names[5 * c + d % 5] for c, d in zip(color, digits.target, strict=True)
    ]
    images = digits.images[:, None].astype(np.float32)
    return PairedRows(images, np.ones(len(texts), np.int64), texts, labels, names)


def read_paired_file(
    path: str,
    image: str = "image",
    text: str = "text",
    label: str | None = "label",
    image_shape: Sequence[int] = (1, 8, 8),
    separator: str = ",",
    root: str | None = None,
) -> PairedRows:
    """Your rows: a CSV (``.jsonl``/``.json``: JSON Lines) with an image path, a text and a label.

    An empty image cell is a row without an image; a path to a file that does not exist stops
    with one error listing such rows.

    Args:
        path: the file.
        image, text, label: column names; a file without the label column is unlabelled.
        image_shape: (C, H, W): 1 (grayscale) or 3 (RGB) channels, resized to (H, W).
        separator: CSV field separator.
        root: folder that relative image paths start from; None: the file's folder.
    """
    columns = _columns(path, separator)
    for key, name in (("image", image), ("text", text)):
        if name not in columns:
            raise ConfigError(
                f"dataset.rows.{key}", name, f"a column of {path}: {', '.join(columns)}"
            )
    n = len(columns[text])
    base = Path(root).expanduser() if root else Path(path).expanduser().parent
    paths = [None if not p else base / p for p in columns[image]]
    absent = [(i, str(p)) for i, p in enumerate(paths) if p is not None and not p.is_file()]
    if absent:
        raise DataError(
            f"{path}: {len(absent)} image paths do not exist, e.g. row {absent[0][0] + 1}: "
            f"{absent[0][1]}. Fix: correct the paths (relative ones start at {base}, "
            "dataset.rows.root), or leave the cell empty for a row without an image"
        )
    from src.data.image_files import decode

    channels, size = int(image_shape[0]), (int(image_shape[1]), int(image_shape[2]))
    images = np.zeros((n, channels, *size), np.float32)
    for i, p in enumerate(paths):
        if p is not None:
            images[i] = decode(str(p), size, channels)
    present = np.array([p is not None for p in paths], np.int64)
    texts = [t or "" for t in columns[text]]
    labels: list[str | None] = [None] * n
    if label is not None and label in columns:
        labels = list(columns[label])
    return PairedRows(images, present, texts, labels)


def _columns(path: str, separator: str) -> dict[str, list[str | None]]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError("dataset.rows.path", path, "an existing CSV or JSON Lines file")
    if file.suffix.lower() in (".jsonl", ".json"):
        lines = [ln for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()]
        rows = [json.loads(ln) for ln in lines]
        keys = list(dict.fromkeys(k for row in rows for k in row))
        columns = {k: [None if r.get(k) is None else str(r[k]) for r in rows] for k in keys}
    else:
        from src.data.table import read_table

        table = read_table(str(file), separator, True, missing_values=("",))
        columns = {name: list(cells) for name, cells in table.columns.items()}
    if not columns or not next(iter(columns.values())):
        raise DataError(f"{path} holds no data rows. Fix: check the file")
    return columns


class MultimodalSource:
    """:class:`PairedRows` as named inputs ``image``, ``image_present``, ``tokens``, ``lengths``;
    a :class:`~src.data.sources.FittedSource` (the tokenizer and the class names are learned
    from the training rows and saved in the checkpoint).

    Args:
        rows: returns the rows (a ``_partial_`` reader from the config).
        tokenizer: learns and applies the vocabulary.
        max_length: tokens kept per text.
    """

    def __init__(
        self, rows: Callable[[], PairedRows], tokenizer: TextEncoder, max_length: int
    ) -> None:
        self.read, self.tokenizer, self.max_length = rows, tokenizer, max_length
        self.class_names: list[str] | None = None
        self.fitted = False
        self._rows: PairedRows | None = None

    def rows(self) -> PairedRows:
        if self._rows is None:
            self._rows = self.read()
        return self._rows

    def fit(self, rows: np.ndarray) -> None:
        texts = self.rows().texts
        self.tokenizer.fit([texts[i] for i in rows])
        self.fitted = True

    def state_dict(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.state_dict(), "class_names": self._classes()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tokenizer.load_state_dict(state["tokenizer"])
        self.class_names = list(state["class_names"])
        self.fitted = True

    def __call__(self) -> "Any":
        from src.data.sources import Arrays

        data = self.rows()
        if not self.fitted:  # the datamodule's first call only splits rows; fit() follows
            self.tokenizer.fit(data.texts)
        tokens, lengths = self.tokenizer.encode(data.texts, self.max_length)
        inputs = {"image": data.images, "image_present": data.present}
        inputs |= {"tokens": tokens, "lengths": lengths}
        return Arrays(inputs, self._labels(data.labels), class_names=self._classes())

    def _classes(self) -> list[str]:
        if self.class_names is None:
            data = self.rows()
            if any(y is None for y in data.labels):
                raise ConfigError(
                    "dataset.rows.label", "(missing)", "a label for every training row"
                )
            self.class_names = data.class_names or sorted({str(y) for y in data.labels})
            if len(self.class_names) < 2:
                raise DataError(
                    f"dataset.rows.label: every row has the label {self.class_names!r}; a "
                    "classifier needs at least two classes. Fix: check the label column"
                )
        return self.class_names

    def _labels(self, labels: list[str | None]) -> np.ndarray:
        index = {name: i for i, name in enumerate(self._classes())}
        unknown = sorted({str(y) for y in labels if y is not None and str(y) not in index})
        if unknown:
            raise DataError(
                f"dataset.rows.label: labels {unknown} are not among the model's classes "
                f"{list(index)}. Fix: correct them, or drop the label column to predict"
            )
        return np.array([-1 if y is None else index[str(y)] for y in labels], np.int64)
