"""``dataset=text_corpus``: a token stream served as windows of ``block_size`` tokens.

Training batches are random windows (nanoGPT's sampling), ``batches_per_epoch`` of them per
epoch, drawn from a generator seeded by ``seed``, the epoch and the rank: a resumed run draws
the batches a run never stopped would have, and ranks draw different windows. Validation and
test read every non-overlapping window of their split once, in order (strided over ranks).

A batch is ``{"tokens": (B, T), "target": (B, T)}``, the target being the tokens shifted by
one; evaluation batches add ``"bytes"`` (B,): the UTF-8 bytes the window's targets spell,
from which the module computes bits per byte.
"""

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from src.data.loader import Batch, EpochCounter, to_device
from src.data.text_corpus import CorpusSpec, fitted_tokenizer, load_tokens, token_files
from src.data.text_tokenizers import Tokenizer, from_state
from src.errors import ConfigError

EVAL_SPLITS = ("train", "val", "test")


class RandomWindows:
    """``batches`` batches of ``batch_size`` random windows per epoch (per rank)."""

    def __init__(
        self,
        tokens: np.ndarray,
        block_size: int,
        batch_size: int,
        batches: int,
        seed: int,
        rank: int,
    ) -> None:
        self.tokens, self.block_size, self.batch_size = tokens, block_size, batch_size
        self.batches, self.seed, self.rank = batches, seed, rank
        self.sampler = EpochCounter()  # Lightning sets its epoch before each epoch
        self.batch_sampler = None

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[Batch]:
        rng = np.random.default_rng([self.seed, self.sampler.epoch, self.rank])
        last_start = len(self.tokens) - self.block_size - 1
        offsets = np.arange(self.block_size + 1)
        for _ in range(self.batches):
            starts = rng.integers(0, last_start + 1, size=self.batch_size)
            windows = torch.from_numpy(self.tokens[starts[:, None] + offsets].astype(np.int64))
            yield {"tokens": windows[:, :-1], "target": windows[:, 1:]}  # (B, T) each


class SplitWindows:
    """Every non-overlapping window of a split, in order; rank r reads windows r, r+W, ..."""

    def __init__(
        self,
        tokens: np.ndarray,
        token_bytes: np.ndarray,
        block_size: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.tokens, self.token_bytes = tokens, token_bytes
        self.block_size, self.batch_size = block_size, batch_size
        n_windows = (len(tokens) - 1) // block_size
        self.starts = np.arange(n_windows)[rank::world_size] * block_size
        self.sampler = EpochCounter()
        self.batch_sampler = None

    def __len__(self) -> int:
        return -(-len(self.starts) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        offsets = np.arange(self.block_size + 1)
        for i in range(len(self)):
            starts = self.starts[i * self.batch_size : (i + 1) * self.batch_size]
            windows = self.tokens[starts[:, None] + offsets].astype(np.int64)
            target = windows[:, 1:]
            yield {
                "tokens": torch.from_numpy(windows[:, :-1]),
                "target": torch.from_numpy(target),
                "bytes": torch.from_numpy(self.token_bytes[target].sum(axis=1)),
            }


class TextDataModule(pl.LightningDataModule):
    """A text corpus as one token stream; the tokeniser is its state (saved in checkpoints).

    Args:
        corpus: where the text is, how it is split and tokenised.
        vocab_size: the tokeniser's vocabulary size the model was built for (checked).
        block_size: tokens per window (the model's context).
        batch_size: windows per batch and process.
        batches_per_epoch: training batches per epoch (random windows).
        seed: seed of the window sampling.
        pin_memory: page-locked batches for faster copies to a CUDA device.
        predict_split: the split ``mode=predict`` scores: train, val or test.
    """

    def __init__(
        self,
        corpus: CorpusSpec,
        vocab_size: int,
        block_size: int,
        batch_size: int = 12,
        batches_per_epoch: int = 250,
        seed: int = 42,
        pin_memory: bool = False,
        predict_split: str = "val",
    ) -> None:
        super().__init__()
        if predict_split not in EVAL_SPLITS:
            raise ConfigError("predict.split", predict_split, "one of " + ", ".join(EVAL_SPLITS))
        self.corpus, self.block_size, self.batch_size = corpus, block_size, batch_size
        self.vocab_size = vocab_size
        self.batches_per_epoch, self.seed, self.predict_split = (
            batches_per_epoch,
            seed,
            predict_split,
        )
        self.pin_memory = pin_memory
        self.tokenizer: Tokenizer | None = None
        self.splits: dict[str, np.ndarray] = {}

    def state_dict(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.state()} if self.tokenizer else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("tokenizer"):
            self.tokenizer = from_state(state_dict["tokenizer"])

    def prepare_data(self) -> None:  # rank 0 first: learns the tokeniser and encodes the splits
        token_files(self.corpus, self.tokenizer or fitted_tokenizer(self.corpus))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.tokenizer is None:
            self.tokenizer = fitted_tokenizer(self.corpus)
        if self.tokenizer.vocab_size != self.vocab_size:
            raise ConfigError(
                "dataset.vocab_size",
                self.vocab_size,
                f"the tokenizer's {self.tokenizer.vocab_size} ids",
                "leave dataset.vocab_size to its ${text.vocab_size:...} interpolation",
            )
        files = token_files(self.corpus, self.tokenizer)
        self.splits = {s: load_tokens(f, self.tokenizer.vocab_size) for s, f in files.items()}
        needed = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}
        needed["predict"] = [self.predict_split]
        for split in needed.get(stage or "fit", []):
            self._check_length(split)

    def _check_length(self, split: str) -> None:
        n = len(self.splits[split])
        if n == 0 and split == "test":
            raise ConfigError(
                "dataset.test_fraction",
                self.corpus.test_fraction,
                "a number > 0 to test the model (test=true)",
                "set dataset.test_fraction=0.05, or test=false",
            )
        if n <= self.block_size:
            fraction = "val_fraction" if split != "test" else "test_fraction"
            fix = f"lower dataset.block_size, raise dataset.{fraction} or use a larger corpus"
            raise ConfigError(
                "dataset.block_size",
                self.block_size,
                f"fewer than the {n} tokens of the {split} split (a window needs block_size + 1)",
                fix if split != "train" else "lower dataset.block_size or use a larger corpus",
            )

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer else (0, 1)

    def train_dataloader(self) -> RandomWindows:
        rank = self._rank_world()[0]
        tokens = self.splits["train"]
        return RandomWindows(
            tokens, self.block_size, self.batch_size, self.batches_per_epoch, self.seed, rank
        )

    def _eval_loader(self, split: str) -> SplitWindows:
        assert self.tokenizer is not None  # set in setup
        rank, world = self._rank_world()
        return SplitWindows(
            self.splits[split],
            self.tokenizer.token_bytes(),
            self.block_size,
            self.batch_size,
            rank,
            world,
        )

    def val_dataloader(self) -> SplitWindows:
        return self._eval_loader("val")

    def test_dataloader(self) -> SplitWindows:
        return self._eval_loader("test")

    def predict_dataloader(self) -> SplitWindows:
        return self._eval_loader(self.predict_split)

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, idx: int) -> Batch:
        return to_device(batch, device, pin=self.pin_memory)


def text_corpus_datamodule(
    path: str | None = None,
    pattern: str = "**/*.txt",
    hf_dataset: str | None = None,
    hf_config: str | None = None,
    hf_split: str = "train",
    hf_column: str = "text",
    tokenizer: str = "char",
    bpe_vocab_size: int = 4096,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    cache_dir: str = "data/text_tokens",
    tokenizer_checkpoint: str | None = None,
    **datamodule: Any,
) -> TextDataModule:
    """A :class:`TextDataModule` whose corpus options (see :class:`CorpusSpec`) sit beside its
    own in the ``dataset=text_corpus`` config."""
    corpus = CorpusSpec(
        path, pattern, hf_dataset, hf_config, hf_split, hf_column, tokenizer, int(bpe_vocab_size),
        val_fraction, test_fraction, cache_dir, tokenizer_checkpoint,
    )  # fmt: skip
    return TextDataModule(corpus, **datamodule)
