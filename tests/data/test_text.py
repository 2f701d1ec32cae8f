"""dataset=text_corpus: tokenisers, the split, the token files and their errors."""

import sys
from pathlib import Path

import numpy as np
import pytest

from src.data.text import TextDataModule, text_corpus_datamodule
from src.data.text_corpus import CorpusSpec, fitted_tokenizer, token_files
from src.data.text_tokenizers import BpeTokenizer, CharTokenizer, from_state
from src.errors import ConfigError, DataError

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"


def corpus_file(tmp_path: Path, text: str = TEXT * 20) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    return path


def test_char_tokenizer_round_trips_and_saves_as_state() -> None:
    tok = CharTokenizer.fit([TEXT])
    ids = tok.encode(TEXT)
    assert tok.decode(ids) == TEXT
    assert from_state(tok.state()).decode(ids) == TEXT


def test_bpe_tokenizer_round_trips_any_text() -> None:
    tok = BpeTokenizer.fit([TEXT * 20], vocab_size=300)
    assert 256 < tok.vocab_size <= 300
    text = "Whether 'tis nobler — naïve ünïcode"  # characters the training text lacks
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert from_state(tok.state()).decode(ids) == text
    assert tok.token_bytes()[ids].sum() == len(text.encode())


def test_prompt_characters_outside_the_vocabulary_name_the_key() -> None:
    tok = CharTokenizer.fit([TEXT])
    with pytest.raises(ConfigError, match=r"generate\.prompt='Zebra'.*leave out 'Z'"):
        tok.encode("Zebra")


def test_split_by_position_last_tenth_is_validation(tmp_path: Path) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    spec = CorpusSpec(path=str(corpus_file(tmp_path, text)), val_fraction=0.1, test_fraction=0.05)
    parts = spec.split(spec.text())
    assert parts["val"] == text[900:] and parts["test"] == text[850:900]
    assert parts["train"] == text[:850]


def test_token_files_are_memory_mapped_and_decode_to_the_text(tmp_path: Path) -> None:
    spec = CorpusSpec(path=str(corpus_file(tmp_path)), cache_dir=str(tmp_path / "cache"))
    tok = fitted_tokenizer(spec)
    dm = TextDataModule(spec, tok.vocab_size, block_size=8, batch_size=4, batches_per_epoch=3)
    dm.setup("fit")
    assert isinstance(dm.splits["train"], np.memmap)
    assert dm.splits["train"].dtype == np.uint16
    whole = "".join(tok.decode(dm.splits[s].tolist()) for s in ("train", "test", "val"))
    assert whole == spec.text()
    batch = next(iter(dm.train_dataloader()))
    assert batch["tokens"].shape == (4, 8)
    assert (batch["tokens"][:, 1:] == batch["target"][:, :-1]).all()  # shifted by one
    val = next(iter(dm.val_dataloader()))
    assert val["bytes"].tolist() == [8] * len(val["bytes"])  # ASCII: a byte per character


def test_the_tokenizer_comes_back_from_the_state_alone(tmp_path: Path) -> None:
    spec = CorpusSpec(path=str(corpus_file(tmp_path)), cache_dir=str(tmp_path / "cache"))
    dm = TextDataModule(spec, fitted_tokenizer(spec).vocab_size, block_size=8)
    dm.setup("fit")
    state = dm.state_dict()
    other = CorpusSpec(path=str(tmp_path / "gone.txt"), cache_dir=str(tmp_path / "c2"))
    restored = TextDataModule(other, 1, block_size=8)
    restored.load_state_dict(state)
    assert restored.tokenizer is not None and restored.tokenizer.decode([0, 1]) == "\n "


def test_block_size_larger_than_the_corpus_names_the_key(tmp_path: Path) -> None:
    spec = CorpusSpec(path=str(corpus_file(tmp_path, TEXT)), cache_dir=str(tmp_path / "c"))
    dm = TextDataModule(spec, fitted_tokenizer(spec).vocab_size, block_size=512)
    with pytest.raises(ConfigError, match=r"dataset\.block_size=512: expected fewer than the"):
        dm.setup("fit")


def test_empty_corpus_is_one_clear_error(tmp_path: Path) -> None:
    spec = CorpusSpec(path=str(corpus_file(tmp_path, "\n  \n")), cache_dir=str(tmp_path / "c"))
    with pytest.raises(DataError, match=r"dataset\.path=.*the corpus is empty"):
        fitted_tokenizer(spec)


def test_folder_without_matching_files_names_the_pattern(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(TEXT)
    spec = CorpusSpec(path=str(tmp_path), cache_dir=str(tmp_path / "c"))
    with pytest.raises(DataError, match=r"dataset\.pattern='\*\*/\*\.txt'"):
        spec.text()


def test_hugging_face_corpus_without_datasets_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    dm = text_corpus_datamodule(
        hf_dataset="Salesforce/wikitext", cache_dir=str(tmp_path), vocab_size=1, block_size=8
    )
    with pytest.raises(DataError, match=r"dataset\.hf_dataset='Salesforce/wikitext' needs"):
        dm.setup("fit")


def test_default_corpus_is_the_python_standard_library() -> None:
    files = CorpusSpec().files()
    assert len(files) == 20 and all(f.suffix == ".py" for f in files)
    assert sum(f.stat().st_size for f in files) > 500_000


def test_changing_the_tokenizer_options_reencodes(tmp_path: Path) -> None:
    path = str(corpus_file(tmp_path))
    a = CorpusSpec(path=path, cache_dir=str(tmp_path / "c"))
    b = CorpusSpec(path=path, cache_dir=str(tmp_path / "c"), val_fraction=0.2)
    assert a.key() != b.key()
    files_a = token_files(a, fitted_tokenizer(a))
    files_b = token_files(b, fitted_tokenizer(b))
    assert files_a["val"].stat().st_size < files_b["val"].stat().st_size


def test_testing_without_a_test_split_names_the_fraction(tmp_path: Path) -> None:
    spec = CorpusSpec(path=str(corpus_file(tmp_path)), cache_dir=str(tmp_path / "c"))
    dm = TextDataModule(spec, fitted_tokenizer(spec).vocab_size, block_size=8)
    with pytest.raises(ConfigError, match=r"dataset\.test_fraction=0\.0.*test=false"):
        dm.setup("test")
