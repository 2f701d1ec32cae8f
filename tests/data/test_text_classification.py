"""Text classification data: file formats, the vocabulary in the checkpoint, length-bucketed
batches, the generated grammar, and one clear error per bad input."""

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.loader import TensorLoader
from src.data.sentiment_grammar import generate, read_sentiment_grammar
from src.data.text_classification import LengthBatches, TextSource, text_datamodule
from src.data.text_files import read_hf, read_text_file
from src.data.vocabulary import PAD, UNK, WordVocabulary, build_tokenizer
from src.errors import ConfigError, DataError
from tests.data.fakes import write_csv, write_texts


def _datamodule(path: Path, **options: object) -> object:
    texts = partial(read_text_file, str(path), **options.pop("texts", {}))  # type: ignore[arg-type]
    args = {"max_length": 16, "num_classes": 2, "num_outputs": 2, "task": "multiclass"}
    return text_datamodule(texts, **(args | options))  # type: ignore[arg-type]


def test_vocabulary_keeps_frequent_words_from_the_training_texts_only() -> None:
    vocab = WordVocabulary(max_size=4, min_freq=2)
    vocab.fit(["good good food", "Good bad food", "rare"])
    assert vocab.words == [PAD, UNK, "good", "food"]  # most frequent first, cut at max_size
    tokens, lengths = vocab.encode(["good rare food", ""], max_length=5)
    assert tokens.tolist() == [[2, 1, 3, 0, 0], [1, 0, 0, 0, 0]]  # unknown -> 1, empty -> <unk>
    assert lengths.tolist() == [3, 1]


def test_the_datamodule_learns_its_vocabulary_from_the_train_split(tmp_path: Path) -> None:
    rows = [[f"common word{i}", "a" if i % 2 else "b"] for i in range(40)]
    dm = _datamodule(write_csv(tmp_path / "t.csv", ["text", "label"], rows), vocab_size=100)
    dm.setup("fit")  # type: ignore[attr-defined]
    words = set(dm.state_dict()["source"]["tokenizer"]["words"])  # type: ignore[attr-defined]
    train_ids = dm.splits["train"]["tokens"][:, 1]  # type: ignore[attr-defined]
    test_ids = dm.splits["test"]["tokens"][:, 1]  # type: ignore[attr-defined]
    assert "common" in words and len(words) == 2 + 1 + len(train_ids)
    assert (train_ids > 1).all() and (test_ids == 1).all()  # test-only words are <unk>
    assert dm.state_dict()["class_names"] == ["a", "b"]  # type: ignore[attr-defined]


def test_tsv_without_header_jsonl_and_several_text_columns_read_with_config_only(
    tmp_path: Path,
) -> None:
    (tmp_path / "y.txt").write_text("Loved it.\t1\nCrust is not good.\t0\n")
    tsv = read_text_file(
        str(tmp_path / "y.txt"), text="0", label="1", separator="tab", header=False
    )
    assert tsv.texts == ["Loved it.", "Crust is not good."] and tsv.labels == ["1", "0"]
    lines = [{"title": "Bad", "body": "very bad", "y": "neg"}, {"title": "Ok", "body": "fine"}]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    jsonl = read_text_file(str(tmp_path / "r.jsonl"), text=["title", "body"], label="y")
    assert jsonl.texts == ["Bad very bad", "Ok fine"] and jsonl.labels == ["neg", None]
    split = read_text_file(str(tmp_path / "y.txt"), "0", "1", "tsv", header=False,
                           test_path=str(tmp_path / "y.txt"))  # fmt: skip
    assert split.test_texts == tsv.texts


def test_length_batches_cut_padding_and_group_similar_lengths() -> None:
    lengths = torch.tensor([1, 9, 2, 8, 3, 7, 4, 6])
    tokens = (torch.arange(10)[None] < lengths[:, None]).long()
    loader = TensorLoader({"tokens": tokens, "lengths": lengths, "target": lengths}, 2, True)
    batches = list(LengthBatches(loader, bucket=True, pool=4))
    assert sorted(b["lengths"].tolist() for b in batches) == [[1, 2], [3, 4], [6, 7], [8, 9]]
    assert all(b["tokens"].shape[1] == b["lengths"].max() for b in batches)
    ordered = list(LengthBatches(TensorLoader(loader.tensors, 3), bucket=False))
    assert torch.cat([b["lengths"] for b in ordered]).tolist() == lengths.tolist()  # predict order


def test_grammar_has_thousands_of_balanced_sentences_and_negation_flips_the_label() -> None:
    sentences = generate(2000, seed=0)
    assert abs(np.mean([s.label for s in sentences]) - 0.5) < 0.01
    negated = [s for s in sentences if s.negation and not s.contrast]
    assert 0.2 < len(negated) / len(sentences) < 0.4
    assert all(" not " in s.text or " never " in s.text for s in negated)
    assert read_sentiment_grammar(50, seed=0).texts == [s.text for s in sentences[:50]]  # seeded


# ---- bad input: one clear error each ---------------------------------------------------------
def test_missing_text_column_names_the_key_and_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["review", "label"], [["good", "a"], ["bad", "b"]])
    with pytest.raises(ConfigError, match=r"dataset\.texts\.text='text'.*review, label"):
        read_text_file(str(path))


def test_empty_file_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="holds no data rows"):
        read_text_file(str(tmp_path / "empty.csv"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="holds no data rows"):
        read_text_file(str(tmp_path / "empty.jsonl"))


def test_a_label_column_with_one_class_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [["good", "pos"], ["fine", "pos"]])
    with pytest.raises(DataError, match="at least two classes"):
        _datamodule(path).setup("fit")  # type: ignore[attr-defined]


def test_an_unknown_label_at_predict_time_is_refused(tmp_path: Path) -> None:
    trained = _datamodule(write_texts(tmp_path / "train.csv", n=60))
    trained.setup("fit")  # type: ignore[attr-defined]
    new = write_csv(
        tmp_path / "new.csv", ["text", "label"], [["so good", "positive"], ["meh", "meh"]]
    )
    dm = _datamodule(new, predict_split="all")
    dm.load_state_dict(trained.state_dict())  # type: ignore[attr-defined]
    with pytest.raises(DataError, match=r"\['meh'\] are not among the model's classes"):
        dm.setup("predict")  # type: ignore[attr-defined]


def test_vocabulary_mismatch_between_checkpoint_and_config_names_the_key(tmp_path: Path) -> None:
    path = write_texts(tmp_path / "train.csv", n=60)
    trained = _datamodule(path)
    trained.setup("fit")  # type: ignore[attr-defined]
    state = trained.state_dict()  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"dataset\.lowercase=False.*set dataset\.lowercase=True"):
        _datamodule(path, lowercase=False).load_state_dict(state)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"dataset\.vocab_size=10.*checkpoint's"):
        _datamodule(path, vocab_size=10).load_state_dict(state)  # type: ignore[attr-defined]
    source = TextSource(lambda: read_sentiment_grammar(10), build_tokenizer("word"), 8)
    with pytest.raises(
        ConfigError, match=r"dataset\.tokenizer='word'.*set dataset\.tokenizer=pretrained"
    ):
        source.load_state_dict({"tokenizer": {"kind": "pretrained", "vocab_size": 9}})


def test_missing_tokenizer_and_encoder_directories_name_their_keys(tmp_path: Path) -> None:
    from src.networks.pretrained_text import PretrainedTextClassifier

    with pytest.raises(ConfigError, match=r"dataset\.tokenizer_path=.*nowhere"):
        build_tokenizer("pretrained", path=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"model\.net\.path=.*nowhere"):
        PretrainedTextClassifier(str(tmp_path / "nowhere"), 2)


def test_hugging_face_sets_offline_fail_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    import huggingface_hub.constants

    # offline mode, as on a machine without network (but without its minute of retries)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match=r"stanfordnlp/sst2 could not be loaded.*load_dataset"):
        read_hf("sst2", str(tmp_path / "hf"))
