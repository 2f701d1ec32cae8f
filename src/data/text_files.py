"""Labelled texts for text classification, read from your file or a Hugging Face data set.

Each reader returns :class:`LabelledTexts`; the config names one as ``dataset.texts`` (a
``_partial_`` node), and :class:`~src.data.text_classification.TextSource` calls it. Readers
import neither torch nor transformers: the config resolvers call them to count the classes.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from src.data.table import read_table
from src.errors import ConfigError, DataError

FORMATS = ("auto", "csv", "tsv", "jsonl")


@dataclass
class LabelledTexts:
    """Texts and their labels (``None``: unlabelled, e.g. new texts to predict); ``test_*``
    when the data come with a test split; ``class_names`` when the labels have a fixed order."""

    texts: list[str]
    labels: list[str | None]
    test_texts: list[str] | None = None
    test_labels: list[str | None] | None = None
    class_names: list[str] | None = None


def read_text_file(
    path: str,
    text: str | int | Sequence[str | int] = "text",
    label: str | int | None = "label",
    format: str = "auto",
    separator: str = ",",
    header: bool = True,
    test_path: str | None = None,
) -> LabelledTexts:
    """Your texts: a CSV/TSV file (any separator, header line or not) or JSON Lines.

    Args:
        path: the file (``.jsonl``/``.json`` read as JSON Lines with ``format: auto``).
        text: the text column, or several joined with a space (numbers without a header: 0, 1).
        label: the label column; a file without it has unlabelled texts (to predict; training
            on them fails naming ``dataset.texts.label``).
        format: ``auto`` (by suffix), ``csv``, ``tsv`` or ``jsonl``.
        separator: field separator of a CSV (``tab`` for tabs).
        header: the first line names the columns; false: they are named 0, 1, 2, ...
        test_path: a second file in the same layout, the test split (else carved out of path).
    """
    texts, labels = _read_one(path, text, label, format, separator, header)
    if test_path is None:
        return LabelledTexts(texts, labels)
    test_texts, test_labels = _read_one(test_path, text, label, format, separator, header)
    return LabelledTexts(texts, labels, test_texts, test_labels)


def _read_one(
    path: str,
    text: str | int | Sequence[str | int],
    label: str | int | None,
    fmt: str,
    sep: str,
    header: bool,
) -> tuple[list[str], list[str | None]]:
    if fmt not in FORMATS:
        raise ConfigError("dataset.texts.format", fmt, "one of " + ", ".join(FORMATS))
    if fmt == "auto":
        fmt = "jsonl" if path.lower().endswith((".jsonl", ".json")) else "csv"
    columns = (
        _jsonl(path) if fmt == "jsonl" else _delimited(path, "\t" if fmt == "tsv" else sep, header)
    )
    names = [str(text)] if isinstance(text, str | int) else [str(t) for t in text]
    _require(path, columns, names, "dataset.texts.text")
    texts = [
        " ".join(c or "" for c in row) for row in zip(*(columns[n] for n in names), strict=True)
    ]
    labels = list(columns.get(str(label), [None] * len(texts))) if label is not None else []
    return texts, labels or [None] * len(texts)


def _require(path: str, columns: dict[str, list[str | None]], names: list[str], key: str) -> None:
    absent = [n for n in names if n not in columns]
    if absent:
        raise ConfigError(
            key,
            absent[0],
            f"a column of {path}: {', '.join(columns)}",
            f"set {key} to one of them (is dataset.texts.separator/header right?)",
        )


def _delimited(path: str, sep: str, header: bool) -> dict[str, list[str | None]]:
    table = read_table(path, sep, header, missing_values=("",))
    return {name: list(cells) for name, cells in table.columns.items()}


def _jsonl(path: str) -> dict[str, list[str | None]]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError("dataset.texts.path", path, "an existing CSV, TSV or JSON Lines file")
    stat = file.stat()
    return _read_jsonl(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read_jsonl(path: str, mtime_ns: int, size: int) -> dict[str, list[str | None]]:
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {i + 1} is not JSON ({e}). Fix that line") from e
    if not rows:
        raise DataError(f"{path} holds no data rows")
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return {k: [None if r.get(k) is None else str(r[k]) for r in rows] for k in keys}


# ---- Hugging Face data sets (online, cached after the first download) ------------------------
# name -> (hub id, text column, label column, class names, test split)
HF_SETS = {
    "imdb": ("stanfordnlp/imdb", "text", "label", ["neg", "pos"], "test"),
    # SST-2's test labels are hidden: its validation split is the test split here
    "sst2": ("stanfordnlp/sst2", "sentence", "label", ["negative", "positive"], "validation"),
    "ag_news": ("fancyzhx/ag_news", "text", "label",
                ["World", "Sports", "Business", "Sci/Tech"], "test"),
}  # fmt: skip


def read_hf(name: str, cache_dir: str, max_samples: int | None = None) -> LabelledTexts:
    """IMDB, SST-2 or AG News through the ``datasets`` package: downloaded into ``cache_dir``
    when online, read from there after; offline without the files, one error says what to do.

    Args:
        name: ``imdb``, ``sst2`` or ``ag_news``.
        cache_dir: the ``datasets`` cache folder.
        max_samples: keep the first this many samples of each split (quick experiments).
    """
    if name not in HF_SETS:
        raise ConfigError("dataset.texts.name", name, "one of " + ", ".join(HF_SETS))
    hub_id, text, label, classes, test_split = HF_SETS[name]
    try:
        import datasets

        loaded = datasets.load_dataset(hub_id, cache_dir=cache_dir)
    except Exception as e:  # offline, no package, hub errors: the library's many error types
        raise DataError(
            f"dataset.texts.name={name}: {hub_id} could not be loaded ({type(e).__name__}: "
            f'{str(e)[:160]}). Fix: on a machine with internet run `python -c "import datasets; '
            f"datasets.load_dataset('{hub_id}', cache_dir='{cache_dir}')\"` (pip install -e "
            f"'.[text]') and copy {cache_dir} here, or export it to CSV for dataset=text_file"
        ) from e
    train, test = loaded["train"][:max_samples], loaded[test_split][:max_samples]
    return LabelledTexts(
        [str(t) for t in train[text]],
        [classes[int(y)] for y in train[label]],
        [str(t) for t in test[text]],
        [classes[int(y)] for y in test[label]],
        class_names=classes,
    )
