"""dataset=csv: encoding a table (one-hot text columns, missing cells from the training rows
only), its errors, and predicting new rows from a checkpoint once the training file is gone."""

import csv
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from src.data.tabular import CsvSource, csv_datamodule
from src.errors import ConfigError, DataError
from src.experiments import run
from src.experiments.predict import predict
from src.experiments.train import train
from tests.conftest import Compose, run_cli
from tests.data.fakes import classification_rows, write_csv

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


def source(path: Path, target: Any = "label", **kw: Any) -> CsvSource:
    return CsvSource(str(path), target, **kw)


def datamodule(path: Path, target: str, **kw: Any) -> Any:
    src = source(path, target)
    enc = src.learn()
    args = {"input_shape": [enc.width], "num_classes": len(enc.class_names or []) or None}
    args |= {"num_outputs": enc.num_outputs, "batch_size": 16, "task": "multiclass"}
    dm = csv_datamodule(str(path), target, **(args | kw))
    dm.setup("fit")
    return dm


def read_predictions(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- encoding ---------------------------------------------------------------------------------
def test_text_columns_are_one_hot_and_labels_are_named(tmp_path: Path) -> None:
    header, rows = classification_rows(40)
    data = source(write_csv(tmp_path / "t.csv", header, rows))()
    assert data.class_names == ["large", "medium", "small"]
    assert data.x.shape == (40, 5)  # size, weight, color: blue, green, red
    assert isinstance(data.x, np.ndarray) and data.x.dtype == np.float32
    size, weight, color, label = rows[0]
    one_hot = [float(color == c) for c in ("blue", "green", "red")]
    assert data.x[0].tolist() == pytest.approx([size, weight, *one_hot], abs=1e-6)
    assert data.y[0] == data.class_names.index(label)


def test_numbers_written_differently_are_the_same_label(tmp_path: Path) -> None:
    rows = [[0.5, "1"], [0.1, "1.0"], [0.7, "2"], [0.3, "10"], [0.9, "2e0"]]
    data = source(write_csv(tmp_path / "t.csv", ["x", "label"], rows))()
    assert data.class_names == ["1", "2", "10"]  # numeric order, not text order
    assert data.y.tolist() == [0, 0, 1, 2, 1]


def test_separator_and_files_without_header(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("1.5\tred\ta\n2.5\tblue\tb\n0.5\tred\ta\n")
    data = source(path, target=2, separator="tab", header=False)()
    assert data.x.tolist() == [[1.5, 0, 1], [2.5, 1, 0], [0.5, 0, 1]]
    assert data.class_names == ["a", "b"]


def test_missing_cells_get_the_training_rows_means(tmp_path: Path) -> None:
    # `v` grows with the row id, so its mean over the training rows differs from the file's
    n = 200
    rows = [
        [i, None if i % 10 == 3 else i**2 / 100, None if i % 10 == 4 else "ab"[i % 7 < 2], i % 2]
        for i in range(n)
    ]
    dm = datamodule(write_csv(tmp_path / "t.csv", ["id", "v", "tag", "label"], rows), "label")
    offset, scale = dm.stats["x"]
    x = (dm.splits["train"]["x"] * scale + offset).double().numpy()  # back to the file's units
    ids = np.rint(x[:, 0]).astype(int)
    train = [rows[i] for i in ids]
    v_mean = np.mean([r[1] for r in train if r[1] is not None])
    share_b = np.mean([r[2] == "b" for r in train if r[2] is not None])
    assert not np.isclose(v_mean, np.mean([r[1] for r in rows if r[1] is not None]), atol=1)
    gaps = ids % 10 == 3
    assert gaps.any() and np.allclose(x[gaps, 1], v_mean, atol=1e-3)
    gaps = ids % 10 == 4
    assert gaps.any() and np.allclose(x[gaps, 2:], [[1 - share_b, share_b]], atol=1e-5)
    assert (
        len(dm.splits["train"]["x"]) + len(dm.splits["val"]["x"]) + len(dm.splits["test"]["x"]) == n
    )


@pytest.mark.parametrize("policy", ["zero", "drop", "error"])
def test_missing_value_policies(tmp_path: Path, policy: str) -> None:
    rows = [[1.0, "a", 0], [None, "b", 1], [3.0, None, 0], [4.0, "a", 1]]
    path = write_csv(tmp_path / "t.csv", ["v", "tag", "label"], rows)
    if policy == "error":
        with pytest.raises(DataError, match=r"2 rows have missing values .*column 'v', data row 2"):
            source(path, missing=policy)()
        return
    data = source(path, missing=policy)()
    if policy == "zero":
        assert data.x.tolist() == [[1, 1, 0], [0, 0, 1], [3, 0, 0], [4, 1, 0]]
    else:
        assert data.x.tolist() == [[1, 1, 0], [4, 1, 0]] and data.y.tolist() == [0, 1]


def test_unknown_missing_policy(compose_cfg: Compose, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset.missing='median': expected one of mean, zero"):
        source(tmp_path / "t.csv", missing="median")
    header, rows = classification_rows(30)
    path = write_csv(tmp_path / "t.csv", header, rows)
    cfg = compose_cfg(
        "dataset=csv",
        "model=mlp",
        f"dataset.path={path}",
        "dataset.target=label",
        "dataset.missing=median",
    )
    with pytest.raises(ConfigError, match=r"dataset.missing='median': expected one of mean, zero"):
        run(cfg)


# ---- errors -----------------------------------------------------------------------------------
def _table(tmp_path: Path, header: list[str], rows: list[list[object]]) -> Path:
    return write_csv(tmp_path / "t.csv", header, rows)


ERRORS = {
    "missing file": (None, {}, ConfigError, r"dataset.path='.*nope.csv': expected an existing"),
    "missing column": (
        (["a", "b", "label"], [[1, 2, 0], [2, 1, 1]]),
        {"features": ["a", "c"]},
        ConfigError,
        r"dataset.features='c': expected columns of .*t.csv: a, b, label",
    ),
    "one class": (
        (["a", "label"], [[1, "x"], [2, "x"]]),
        {},
        ConfigError,
        r"dataset.target='label': expected a column with at least 2 classes; .* has 1: \['x'\]",
    ),
    "all-missing column": (
        (["a", "b", "label"], [[1, None, 0], [2, None, 1]]),
        {},
        DataError,
        r"column 'b' of .*t.csv has no values",
    ),
    "binary with three classes": (
        (["a", "label"], [[1, "x"], [2, "y"], [3, "z"]]),
        {"task": "binary"},
        ConfigError,
        r"dataset.task='binary': expected a target with 2 classes; 'label' has 3 \(x, y, z\)",
    ),
    "floats as classes": (
        (["a", "label"], [[1, 0.5], [2, 1.7]]),
        {},
        ConfigError,
        r"dataset.task='multiclass': expected regression .* holds 0.5",
    ),
    "text as regression target": (
        (["a", "label"], [[1, 0.5], [2, "high"]]),
        {"task": "regression"},
        DataError,
        r"target 'label' of .*t.csv holds 'high' in data row 2",
    ),
    "missing target": (
        (["a", "label"], [[1, "x"], [2, None], [3, "y"]]),
        {},
        DataError,
        r"target label of .*t.csv: missing in 1 rows \(data rows 2\).*dataset.missing=drop",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_name_the_fix(tmp_path: Path, case: str) -> None:
    table, kw, error, message = ERRORS[case]
    path = tmp_path / "nope.csv" if table is None else _table(tmp_path, *table)
    with pytest.raises(error, match=message):
        source(path, **kw)()


def test_a_data_error_is_one_line_from_the_command_line(tmp_path: Path) -> None:
    path = _table(tmp_path, ["a", "b", "label"], [[1, 2, 0], [2, 1, 1]])
    out = run_cli(
        tmp_path, "experiment=csv_classification", f"dataset.path={path}", "dataset.target=y"
    )
    text = out.stdout + out.stderr
    assert out.returncode == 2 and "Traceback" not in text, text
    errors = [row for row in text.splitlines() if "dataset.target='y'" in row]
    assert len(errors) == 1 and "expected columns of" in errors[0] and "a, b, label" in errors[0]


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    binary = tmp_path / "t.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"t.csv is not a delimited text file in UTF-8"):
        source(binary)()
    if HAS_PYARROW:
        damaged = tmp_path / "t.parquet"
        damaged.write_bytes(b"PAR1 truncated")
        with pytest.raises(DataError, match=r"t.parquet is not a readable Parquet file"):
            source(damaged)()


@pytest.mark.skipif(HAS_PYARROW, reason="pyarrow is installed: the error cannot happen")
def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(
        DataError, match=r"needs the pyarrow package.*pip install 'hydralit\[parquet\]'"
    ):
        source(path)()


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    header, rows = classification_rows(50)
    columns = {name: [r[i] for r in rows] for i, name in enumerate(header)}
    pq.write_table(pa.table(columns), tmp_path / "t.parquet")
    from_parquet = source(tmp_path / "t.parquet")()
    from_csv = source(write_csv(tmp_path / "t.csv", header, rows))()
    assert np.array_equal(from_parquet.x, from_csv.x) and np.array_equal(from_parquet.y, from_csv.y)


# ---- train, then predict new rows without the training file -------------------------------------
def test_predicting_new_rows_needs_only_the_checkpoint(
    compose_cfg: Compose, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    header, rows = classification_rows(300)
    path = write_csv(tmp_path / "train.csv", header, rows)
    common = ["experiment=csv_classification", "dataset.target=label", "trainer.max_epochs=3"]
    metrics = train(compose_cfg(*common, f"dataset.path={path}", run_dir=tmp_path / "fit"))
    ckpt = metrics["best_checkpoint"]
    assert metrics["test/acc"] > 0.4  # 3 classes, 3 epochs of a few batches

    def predict_file(file: Path, name: str) -> list[dict[str, str]]:
        cfg = compose_cfg(
            *common,
            f"dataset.path={file}",
            "mode=predict",
            "predict.split=all",
            f"ckpt_path={ckpt}",
            run_dir=tmp_path / name,
        )
        return read_predictions(predict(cfg)["predictions"])

    before = predict_file(path, "before")
    assert len(before) == 300 and {r["target"] for r in before} == {"0", "1", "2"}
    path.unlink()  # from here on, only the checkpoint knows the encoding

    # other column order, no target, a subset of the rows in another order, a new category
    picked = [17, 3, 250, 99, 5, 180]
    new_rows = [[rows[i][2], rows[i][1], rows[i][0]] for i in picked] + [["purple", 0.1, 0.2]]
    new = write_csv(tmp_path / "new.csv", ["color", "weight", "size"], new_rows)
    with caplog.at_level(logging.WARNING):
        after = predict_file(new, "after")
    assert "'purple'" in caplog.text and "encoded as all zeros" in caplog.text
    assert [r["target"] for r in after] == ["-1"] * 7
    probs = [k for k in after[0] if k.startswith("prob_")]
    assert probs == ["prob_large", "prob_medium", "prob_small"]
    for row, i in zip(after, picked, strict=False):
        assert row["prediction"] == before[i]["prediction"]
        # equal up to float32 rounding, which differs between batches of other sizes
        assert [float(row[k]) for k in probs] == pytest.approx(
            [float(before[i][k]) for k in probs], abs=1e-5
        )

    # with the target column, labels map to the training run's classes
    labelled = write_csv(tmp_path / "labelled.csv", header, [rows[i] for i in picked])
    again = predict_file(labelled, "labelled")
    assert [r["target"] for r in again] == [before[i]["target"] for i in picked]
    assert [float(r["prob_small"]) for r in again] == pytest.approx(
        [float(before[i]["prob_small"]) for i in picked], abs=1e-5
    )


def test_the_encoding_travels_in_the_checkpoint(compose_cfg: Compose, tmp_path: Path) -> None:
    header, rows = classification_rows(120)
    path = write_csv(tmp_path / "train.csv", header, rows)
    metrics = train(
        compose_cfg(
            "experiment=csv_classification",
            f"dataset.path={path}",
            "dataset.target=label",
            run_dir=tmp_path / "fit",
        )
    )
    state = torch.load(metrics["best_checkpoint"], weights_only=False)["InMemoryDataModule"]
    enc = state["source"]
    assert enc["features"] == ["size", "weight", "color"]
    assert enc["categories"] == {"color": ["blue", "green", "red"]}
    assert enc["class_names"] == state["class_names"] == ["large", "medium", "small"]
    assert len(enc["means"]) == len(enc["known"]) == 5
