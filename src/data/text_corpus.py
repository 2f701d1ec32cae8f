"""The text of ``dataset=text_corpus`` as one stream, split by position, tokenised once to files.

Where the text comes from (first that is set):

- ``hf_dataset``: a Hugging Face ``datasets`` corpus (needs ``pip install datasets`` and the
  network, or its local cache); its ``hf_column`` rows joined by newlines.
- ``path``: a text file, or a folder whose files matching ``pattern`` are read in sorted order.
- neither: the default corpus, the source of a fixed list of Python standard-library modules
  (~1.2 MB, PSF License 2.0), which every Python installation holds, so tests and the default
  experiment run offline.

Split by position: ``train | test | val``, validation being the last ``val_fraction`` of the
text (nanoGPT's 90/10 with ``test_fraction: 0``). The tokeniser is learned from the training
part; each part is encoded once to ``<cache_dir>/<key>/<split>.bin`` (uint16 ids, uint32 for
vocabularies over 65,535) and memory-mapped, so a corpus larger than memory trains without
loading it. The key is a hash of the files' names, sizes and modification times (or of the HF
names), the fractions and the tokeniser's options: changing any of them re-encodes. With
``tokenizer_checkpoint`` (fine-tuning), the tokeniser is that checkpoint's, not learned.
"""

import hashlib
import json
import logging
import os
import sysconfig
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from src.data.text_tokenizers import Tokenizer, fit_tokenizer, from_state
from src.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# standard-library modules with much prose (docstrings, comments) besides code
DEFAULT_MODULES = (
    "argparse", "dataclasses", "difflib", "enum", "functools", "inspect", "pathlib", "pydoc",
    "subprocess", "textwrap", "threading", "typing", "collections/__init__", "logging/__init__",
    "unittest/case", "json/decoder", "json/encoder", "email/message", "http/client",
    "urllib/parse",
)  # fmt: skip
SPLITS = ("train", "test", "val")


@dataclass(frozen=True)
class CorpusSpec:
    """Where the corpus is and how it is split and tokenised (the ``dataset`` options)."""

    path: str | None = None
    pattern: str = "**/*.txt"
    hf_dataset: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    hf_column: str = "text"
    tokenizer: str = "char"
    bpe_vocab_size: int = 4096  # byte-level BPE only
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    cache_dir: str = "data/text_tokens"
    # a language model's checkpoint whose tokenizer is used instead of learning one
    tokenizer_checkpoint: str | None = None

    def files(self) -> list[Path]:
        """The text files read, in order (none for a Hugging Face corpus)."""
        if self.hf_dataset:
            return []
        if self.path is None:
            stdlib = Path(sysconfig.get_paths()["stdlib"])
            return [stdlib / f"{m}.py" for m in DEFAULT_MODULES if (stdlib / f"{m}.py").is_file()]
        root = Path(self.path).expanduser()
        if root.is_file():
            return [root]
        if not root.is_dir():
            raise ConfigError(
                "dataset.path", self.path, "an existing text file or folder of text files"
            )
        found = sorted(p for p in root.glob(self.pattern) if p.is_file())
        if not found:
            raise DataError(
                f"dataset.path={self.path!r}: no file matches dataset.pattern={self.pattern!r}. "
                "Fix: point dataset.path at a text file, or set dataset.pattern (e.g. '**/*.md')"
            )
        return found

    def key(self) -> str:
        """Hash naming this corpus, split and tokeniser in the cache."""
        files = [(str(p.resolve()), *_size_mtime(p)) for p in self.files()]
        described = asdict(self) | {"files": files}
        described.pop("cache_dir")
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]

    def text(self) -> str:
        """The whole corpus as one string."""
        if self.hf_dataset:
            return _hf_text(self)
        parts = [p.read_text(encoding="utf-8", errors="replace") for p in self.files()]
        text = "\n".join(parts)
        if not text.strip():
            raise DataError(
                f"dataset.path={self.path!r}: the corpus is empty (no text in "
                f"{len(parts)} file(s)). Fix: point dataset.path at files holding text"
            )
        return text

    def split(self, text: str) -> dict[str, str]:
        """``train | test | val`` by character position."""
        n = len(text)
        test_start = int(n * (1 - self.val_fraction - self.test_fraction))
        val_start = int(n * (1 - self.val_fraction))
        return {
            "train": text[:test_start],
            "test": text[test_start:val_start],
            "val": text[val_start:],
        }


def _size_mtime(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _hf_text(spec: CorpusSpec) -> str:
    try:
        import datasets
    except ImportError as e:
        raise DataError(
            f"dataset.hf_dataset={spec.hf_dataset!r} needs the Hugging Face `datasets` package. "
            "Fix: pip install datasets (and be online for the first download), or use "
            "dataset.path=<text file or folder>"
        ) from e
    try:
        rows = datasets.load_dataset(spec.hf_dataset, spec.hf_config, split=spec.hf_split)
    except Exception as e:  # offline, unknown name or config: the library's many error types
        raise DataError(
            f"dataset.hf_dataset={spec.hf_dataset!r} (hf_config={spec.hf_config!r}) could not "
            f"be loaded: {type(e).__name__}: {str(e)[:200]}. Fix: be online for the first "
            "download (it is cached after), or use dataset.path=<text file or folder>"
        ) from e
    return "\n".join(str(t) for t in rows[spec.hf_column])


# ---- the tokeniser and the token files, cached on disk -------------------------------------
def _cache(spec: CorpusSpec) -> Path:
    return Path(spec.cache_dir).expanduser() / spec.key()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def fitted_tokenizer(spec: CorpusSpec) -> Tokenizer:
    """The tokeniser learned from the training split (read from the cache after the first time)."""
    return _fitted(spec, spec.key())


@lru_cache(maxsize=8)
def _fitted(spec: CorpusSpec, key: str) -> Tokenizer:
    if spec.tokenizer_checkpoint is not None:  # fine-tuning: the pretrained model's ids
        from src.data.checkpoint_state import checkpoint_data_state

        state = checkpoint_data_state(spec.tokenizer_checkpoint, "TextDataModule")
        return from_state(state["tokenizer"])
    file = Path(spec.cache_dir).expanduser() / key / "tokenizer.json"
    if file.is_file():
        return from_state(json.loads(file.read_text()))
    train = spec.split(spec.text())["train"]
    tokenizer = fit_tokenizer(spec.tokenizer, [train], spec.bpe_vocab_size)
    _atomic_write(file, json.dumps(tokenizer.state()).encode())
    return tokenizer


def token_files(spec: CorpusSpec, tokenizer: Tokenizer) -> dict[str, Path]:
    """``{split: file}`` of uint16/uint32 token ids, encoded now unless already cached."""
    state = json.dumps(tokenizer.state(), sort_keys=True).encode()
    folder = _cache(spec) / hashlib.sha256(state).hexdigest()[:12]
    files = {s: folder / f"{s}.bin" for s in SPLITS}
    if all(f.is_file() for f in files.values()):
        return files
    dtype = token_dtype(tokenizer.vocab_size)
    for split, text in spec.split(spec.text()).items():
        ids = tokenizer.encode(text, strict=False)
        if tokenizer.kind == "char" and (dropped := len(text) - len(ids)):
            log.warning("%d characters of the %s split are not in the vocabulary", dropped, split)
        _atomic_write(files[split], ids.astype(dtype).tobytes())
    return files


def token_dtype(vocab_size: int) -> Any:
    return np.uint16 if vocab_size <= 65536 else np.uint32


def load_tokens(file: Path, vocab_size: int) -> np.ndarray:
    """The split's ids, memory-mapped (an empty array for an empty file)."""
    dtype = token_dtype(vocab_size)
    if file.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(file, dtype=dtype, mode="r")
