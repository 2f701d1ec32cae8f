"""Paired image-text data: the generated set, your CSV/JSONL file and its bad inputs."""

import json
from pathlib import Path

import numpy as np
import pytest

from src.data.multimodal import MultimodalSource, digit_captions, read_paired_file
from src.data.vocabulary import WordVocabulary
from src.errors import ConfigError, DataError
from tests.data.fakes import write_csv, write_paired_rows


def source(rows: object) -> MultimodalSource:
    return MultimodalSource(lambda: rows, WordVocabulary(max_size=50), max_length=6)  # type: ignore[arg-type, return-value]


def test_each_modality_of_the_captions_carries_part_of_the_label() -> None:
    rows = digit_captions()
    assert rows.images.shape == (1797, 1, 8, 8) and len(set(rows.labels)) == 10
    colours = [next(w for w in t.split() if w in ("red", "blue")) for t in rows.texts]
    assert all(str(label).startswith(c) for label, c in zip(rows.labels, colours, strict=True))


def test_a_csv_with_empty_image_cells_reads_rows_without_images(tmp_path: Path) -> None:
    rows = read_paired_file(str(write_paired_rows(tmp_path)))
    assert rows.present.tolist()[:4] == [0, 1, 1, 0]
    assert rows.images[0].max() == 0 and rows.images[1].max() == 200
    data = source(rows)()
    assert set(data.inputs) == {"image", "image_present", "tokens", "lengths"}
    assert data.class_names == ["bright", "dark"]


def test_jsonl_rows_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text(
        "\n".join(
            json.dumps({"image": "", "text": f"t{i}", "label": "ab"[i % 2]}) for i in range(4)
        )
    )
    rows = read_paired_file(str(tmp_path / "rows.jsonl"))
    assert rows.texts == ["t0", "t1", "t2", "t3"] and rows.present.sum() == 0


def test_an_image_path_that_does_not_exist_is_one_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", ["image", "text", "label"], [["gone.png", "x", "a"]] * 3)
    with pytest.raises(DataError, match=r"3 image paths do not exist, e.g. row 1: .*gone.png"):
        read_paired_file(str(path))


def test_a_missing_text_column_names_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", ["image", "caption", "label"], [["", "x", "a"]])
    with pytest.raises(ConfigError, match=r"dataset.rows.text='text'.*image, caption, label"):
        read_paired_file(str(path))


def test_an_empty_file_and_a_single_class_stop(tmp_path: Path) -> None:
    empty = write_csv(tmp_path / "e.csv", ["image", "text", "label"], [])
    with pytest.raises(DataError, match="no data rows"):
        read_paired_file(str(empty))
    one = write_csv(tmp_path / "o.csv", ["image", "text", "label"], [["", "x", "a"]] * 4)
    with pytest.raises(DataError, match="at least two classes"):
        source(read_paired_file(str(one)))()


def test_an_unknown_label_at_predict_time_names_the_classes(tmp_path: Path) -> None:
    trained = source(read_paired_file(str(write_paired_rows(tmp_path / "a"))))
    trained()
    state = trained.state_dict()
    new = write_csv(tmp_path / "n.csv", ["image", "text", "label"], [["", "x", "grey"]])
    predicting = source(read_paired_file(str(new)))
    predicting.load_state_dict(state)
    with pytest.raises(DataError, match=r"\['grey'\] are not among .*\['bright', 'dark'\]"):
        predicting()
    assert np.array_equal(
        predicting.tokenizer.encode(["a picture"], 6)[0],
        trained.tokenizer.encode(["a picture"], 6)[0],
    )
