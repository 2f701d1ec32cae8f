"""Tokenisers of ``dataset=text_corpus``, learned from the training split, saved as plain state.

- ``char``: one id per distinct character of the training split (nanoGPT's shakespeare_char).
- ``bpe``: byte-level BPE trained with Hugging Face ``tokenizers`` (``pip install
  'hydralit[lm]'``); any text encodes, since every byte has an id.

A tokeniser's :meth:`state` is a small dict of plain values: the datamodule's ``state_dict``
holds it, so a checkpoint alone can encode prompts and decode generations. No torch here: the
vocabulary size is read while the config is resolved (``src.data.resolvers``).
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from src.errors import ConfigError, DataError

KINDS = ("char", "bpe")


class Tokenizer(Protocol):
    kind: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str, strict: bool = True) -> np.ndarray: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_bytes(self) -> np.ndarray: ...

    def state(self) -> dict[str, Any]: ...


class CharTokenizer:
    """Characters <-> ids, ids in sorted character order.

    Args:
        chars: the vocabulary, one character each.
    """

    kind = "char"

    def __init__(self, chars: str) -> None:
        self.chars = "".join(sorted(set(chars)))
        self._codes = np.array([ord(c) for c in self.chars], dtype=np.int64)

    @classmethod
    def fit(cls, texts: Iterable[str]) -> "CharTokenizer":
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        return cls("".join(seen))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str, strict: bool = True) -> np.ndarray:
        """Ids (N,) of ``text``; characters outside the vocabulary raise a ConfigError naming
        ``generate.prompt`` when ``strict``, else are left out."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.searchsorted(self._codes, codes).clip(max=max(len(self._codes) - 1, 0))
        known = self._codes[ids] == codes if len(self._codes) else np.zeros(len(codes), bool)
        if strict and not known.all():
            unknown = sorted({chr(c) for c in codes[~known]})
            raise ConfigError(
                "generate.prompt",
                text,
                f"only characters of the model's vocabulary ({self.vocab_size} characters "
                "seen in its training split)",
                f"leave out {''.join(unknown)!r}, or train with dataset.tokenizer=bpe",
            )
        return ids[known]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i] for i in ids if 0 <= i < len(self.chars))

    def token_bytes(self) -> np.ndarray:
        """UTF-8 bytes of each id (V,): a loss in bits per token / these = bits per byte."""
        return np.array([len(c.encode()) for c in self.chars], dtype=np.int64)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": self.chars}


class BpeTokenizer:
    """Byte-level BPE (GPT-2's scheme) from the ``tokenizers`` library.

    Args:
        serialized: the trained tokenizer as ``tokenizers.Tokenizer.to_str()`` JSON.
    """

    kind = "bpe"

    def __init__(self, serialized: str) -> None:
        tokenizers = _tokenizers()
        self.serialized = serialized
        self._tok = tokenizers.Tokenizer.from_str(serialized)

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int) -> "BpeTokenizer":
        if vocab_size < 257:
            raise ConfigError(
                "dataset.bpe_vocab_size",
                vocab_size,
                "an integer > 256 for byte-level BPE (256 byte ids, then merges)",
                "e.g. dataset.bpe_vocab_size=4096",
            )
        tk = _tokenizers()
        tok = tk.Tokenizer(tk.models.BPE())
        tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        return cls(tok.to_str())

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size())

    def encode(self, text: str, strict: bool = True) -> np.ndarray:
        return np.array(self._tok.encode(text).ids, dtype=np.int64)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode([int(i) for i in ids]))

    def token_bytes(self) -> np.ndarray:
        # a byte-level token is spelled with one alphabet character per byte
        vocab = self._tok.get_vocab()
        out = np.zeros(self.vocab_size, dtype=np.int64)
        for token, i in vocab.items():
            out[i] = len(token)
        return out

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "json": self.serialized}


def fit_tokenizer(kind: str, texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A ``kind`` tokeniser learned from ``texts`` (the training split)."""
    if kind == "char":
        return CharTokenizer.fit(texts)
    if kind == "bpe":
        return BpeTokenizer.fit(texts, vocab_size)
    raise ConfigError("dataset.tokenizer", kind, "one of " + ", ".join(KINDS))


def from_state(state: dict[str, Any]) -> Tokenizer:
    """The tokeniser whose :meth:`state` this is (as saved in a checkpoint)."""
    if state.get("kind") == "char":
        return CharTokenizer(state["chars"])
    if state.get("kind") == "bpe":
        return BpeTokenizer(state["json"])
    raise DataError(f"unknown tokenizer state {json.dumps(state)[:80]}")


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as e:
        raise ConfigError(
            "dataset.tokenizer",
            "bpe",
            "the `tokenizers` package, which byte-level BPE needs",
            "pip install 'hydralit[lm]', or use dataset.tokenizer=char",
        ) from e
    return tokenizers
