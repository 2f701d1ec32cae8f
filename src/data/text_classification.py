"""Labelled texts as batches of token ids (``dataset=text_file``, ``sentiment_grammar``, ``imdb``,
``sst2``, ``ag_news``), for :class:`~src.modules.classification.ClassificationModule`.

:class:`TextSource` reads the texts (a reader of :mod:`src.data.text_files` or the generated
grammar), learns its tokenizer's vocabulary from the training split only and encodes every
text as ``tokens`` (max_length,) padded with 0 plus its ``length``. The class names and the
vocabulary are its state, which every checkpoint holds: evaluation and prediction encode new
texts exactly as training did, without the training file.

:class:`TextClassificationDataModule` is the in-memory DataModule with length-aware batches
(:class:`LengthBatches`): each batch is cut to its longest text, and training batches are
formed from texts of similar length, so little of a step is spent on padding.
"""

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from src.data.datamodule import InMemoryDataModule
from src.data.loader import Batch, TensorLoader
from src.data.sources import Arrays
from src.data.text_files import LabelledTexts
from src.data.vocabulary import TextEncoder, build_tokenizer
from src.errors import ConfigError, DataError


class TextSource:
    """Labelled texts as :class:`~src.data.sources.Arrays` with inputs ``tokens`` (N, L) and
    ``lengths`` (N,); a :class:`~src.data.sources.FittedSource` (the vocabulary is learned
    from the training rows).

    Args:
        texts: returns the labelled texts (a ``_partial_`` reader from the config).
        tokenizer: a :class:`~src.data.vocabulary.WordVocabulary` or ``PretrainedTokenizer``.
        max_length: L, tokens kept per text (longer texts are cut).
    """

    def __init__(
        self, texts: Callable[[], LabelledTexts], tokenizer: TextEncoder, max_length: int
    ) -> None:
        self.read, self.tokenizer, self.max_length = texts, tokenizer, max_length
        self.class_names: list[str] | None = None
        self.fitted = False
        self.loaded = False  # from a checkpoint: new texts may be unlabelled
        self._data: LabelledTexts | None = None

    def data(self) -> LabelledTexts:
        if self._data is None:
            self._data = self.read()
            if not self._data.texts:
                raise DataError("dataset.texts: the data hold no texts. Fix: check the file")
        return self._data

    def _all_texts(self) -> list[str]:
        data = self.data()
        return data.texts + (data.test_texts or [])

    # ---- FittedSource -----------------------------------------------------------------------
    def fit(self, rows: np.ndarray) -> None:
        """Learn the vocabulary from these rows (of the texts, then of the test texts)."""
        texts = self._all_texts()
        self.tokenizer.fit([texts[i] for i in rows])
        self.fitted = True

    def state_dict(self) -> dict[str, Any]:
        self._learn_classes()
        return {"tokenizer": self.tokenizer.state_dict(), "class_names": self.class_names}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tokenizer.load_state_dict(state["tokenizer"])
        self.class_names = list(state["class_names"])
        self.fitted = self.loaded = True

    # ---- encoding ---------------------------------------------------------------------------
    def __call__(self) -> Arrays:
        data = self.data()
        if not self.fitted:  # the datamodule's first call only counts rows; fit() follows
            self.tokenizer.fit(self._all_texts())
        classes = self._learn_classes()
        x = self._encode(data.texts)
        y = self._labels(data.labels, classes)
        if data.test_texts is None or data.test_labels is None:
            return Arrays(x, y, class_names=classes)
        test_y = self._labels(data.test_labels, classes)
        return Arrays(x, y, self._encode(data.test_texts), test_y, class_names=classes)

    def _encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        tokens, lengths = self.tokenizer.encode(texts, self.max_length)
        return {"tokens": tokens, "lengths": lengths}

    def _learn_classes(self) -> list[str]:
        if self.class_names is None:
            data = self.data()
            labels = data.labels + (data.test_labels or [])
            if any(label is None for label in labels):
                raise ConfigError(
                    "dataset.texts.label",
                    "(missing)",
                    "a label for every training text",
                    "set dataset.texts.label to the column holding the labels, or fill them",
                )
            self.class_names = data.class_names or sorted({str(label) for label in labels})
            if len(self.class_names) < 2:
                raise DataError(
                    f"dataset.texts.label: every text has the label {self.class_names!r}; a "
                    "classifier needs at least two classes. Fix: check the label column"
                )
        return self.class_names

    def _labels(self, labels: list[str | None], classes: list[str]) -> np.ndarray:
        index = {name: i for i, name in enumerate(classes)}
        unknown = sorted({str(y) for y in labels if y is not None and str(y) not in index})
        if unknown:
            raise DataError(
                f"dataset.texts.label: labels {unknown} are not among the model's classes "
                f"{classes}. Fix: correct them, or drop the label column to predict without labels"
            )
        return np.array([-1 if y is None else index[str(y)] for y in labels], dtype=np.int64)


class LengthBatches:
    """A :class:`~src.data.loader.TensorLoader`'s batches, each cut to its longest text.

    With ``bucket``, ``pool`` consecutive batches are pooled, sorted by length and split again
    (in a seeded order that depends on the epoch): training batches hold texts of similar
    length. The batches and their count per epoch and rank are the loader's, so sharding,
    resuming and ``limit_*_batches`` behave as for every in-memory data set.
    """

    def __init__(self, loader: TensorLoader, bucket: bool, pool: int = 20, seed: int = 0) -> None:
        self.loader, self.bucket, self.pool, self.seed = loader, bucket, pool, seed
        self.sampler = loader.sampler  # Lightning sets the epoch through it
        self.batch_sampler = None

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        if not self.bucket:
            yield from (_cut(b) for b in self.loader)
            return
        g = torch.Generator().manual_seed(self.seed * 7919 + self.sampler.epoch)
        pooled: list[Batch] = []
        for batch in self.loader:
            pooled.append(batch)
            if len(pooled) == self.pool:
                yield from _regroup(pooled, g)
                pooled = []
        if pooled:
            yield from _regroup(pooled, g)


def _cut(batch: Batch) -> Batch:
    """Drop the padding columns no text of the batch needs: tokens (B, L) -> (B, max length)."""
    longest = int(batch["lengths"].max()) if len(batch["lengths"]) else 1
    return {**batch, "tokens": batch["tokens"][:, : max(longest, 1)]}


def _regroup(batches: list[Batch], g: torch.Generator) -> Iterator[Batch]:
    sizes = [len(b["lengths"]) for b in batches]
    joined = {k: torch.cat([b[k] for b in batches]) for k in batches[0]}
    order = torch.sort(joined["lengths"], stable=True).indices
    groups = list(torch.split(order, sizes))
    for i in torch.randperm(len(groups), generator=g).tolist():
        yield _cut({k: v[groups[i]] for k, v in joined.items()})


class TextClassificationDataModule(InMemoryDataModule):
    """The in-memory DataModule over a :class:`TextSource`, served in :class:`LengthBatches`.

    Args:
        source: the texts, tokenizer and max_length.
        bucket_pool: batches pooled and sorted by length for training (1: no bucketing).
        **datamodule: InMemoryDataModule's arguments (num_classes, task, batch_size, ...).
    """

    def __init__(self, source: TextSource, bucket_pool: int = 20, **datamodule: Any) -> None:
        shape = {"tokens": [source.max_length], "lengths": []}
        super().__init__(source, input_shape=shape, normalize="none", **datamodule)
        self.bucket_pool = bucket_pool

    def train_dataloader(self) -> LengthBatches:  # type: ignore[override]
        loader = super().train_dataloader()
        return LengthBatches(loader, self.bucket_pool > 1, self.bucket_pool, self.seed)

    def val_dataloader(self) -> LengthBatches:  # type: ignore[override]
        return LengthBatches(super().val_dataloader(), bucket=False)

    def test_dataloader(self) -> LengthBatches:  # type: ignore[override]
        return LengthBatches(super().test_dataloader(), bucket=False)

    def predict_dataloader(self) -> LengthBatches:  # type: ignore[override]
        return LengthBatches(super().predict_dataloader(), bucket=False)


def text_datamodule(
    texts: Callable[[], LabelledTexts],
    max_length: int,
    tokenizer: str = "word",
    tokenizer_path: str | None = None,
    vocab_size: int = 10000,
    min_freq: int = 1,
    lowercase: bool = True,
    **datamodule: Any,
) -> TextClassificationDataModule:
    """The text data sets' builder (``conf/dataset/_text.yaml``): the source's options beside
    the DataModule's.

    Args:
        texts, max_length: see :class:`TextSource`.
        tokenizer: ``word`` (a vocabulary learned from the training split) or ``pretrained``
            (the tokenizer in the local directory ``tokenizer_path``).
        tokenizer_path: a Hugging Face model directory (``pretrained``).
        vocab_size: ids of the word vocabulary, rows of the network's embedding.
        min_freq: fewer occurrences in the training texts make a word ``<unk>``.
        lowercase: fold case before counting and encoding words.
        **datamodule: TextClassificationDataModule's other arguments.
    """
    encoder = build_tokenizer(tokenizer, vocab_size, min_freq, lowercase, tokenizer_path)
    return TextClassificationDataModule(TextSource(texts, encoder, max_length), **datamodule)
