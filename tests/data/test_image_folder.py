"""dataset=image_folder: class sub-folders (split or not), grayscale and RGB, in memory or
streamed with the same batches, sharded by rank, its errors, and predicting new images."""

import csv
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from src.data.image_folder import ImageFolderDataModule
from src.errors import ConfigError, DataError
from src.experiments import run
from src.experiments.predict import predict
from src.experiments.train import train
from tests.conftest import Compose
from tests.data.fakes import write_image_folder

CLASSES = {"ant": 20, "bee": 20, "cat": 20}


def make(path: Path, channels: int = 1, size: int = 8, **kw: Any) -> ImageFolderDataModule:
    classes = kw.pop("num_classes", 3)
    dm = ImageFolderDataModule(
        str(path), size, channels, [channels, size, size], classes, batch_size=8, **kw
    )
    dm.setup("fit")
    return dm


def batches(loader: Any, dm: ImageFolderDataModule) -> list[dict[str, torch.Tensor]]:
    return [dm.on_after_batch_transfer(dict(b), 0) for b in loader]


def test_class_folders_in_memory(tmp_path: Path) -> None:
    dm = make(write_image_folder(tmp_path / "imgs", CLASSES))
    assert dm.class_names == ["ant", "bee", "cat"]
    sizes = {k: len(v["target"]) for k, v in dm.tensors.items()}
    assert sizes == {"train": 43, "val": 8, "test": 9}  # 15 % test, then 15 % of the rest
    for split in dm.tensors.values():  # stratified: every class in every split
        assert torch.bincount(split["target"], minlength=3).min() >= 2
    x = dm.tensors["train"]["x"]
    assert x.dtype == torch.uint8 and x.shape == (43, 1, 8, 8)  # resized from 12 x 10
    batch = torch.cat([b["x"] for b in batches(dm.train_dataloader(), dm)])
    assert batch.mean().item() == pytest.approx(0, abs=1e-4)
    assert batch.std(correction=0).item() == pytest.approx(1, abs=1e-3)


def test_split_folders_and_rgb(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    write_image_folder(root / "train", {"a": 12, "b": 12}, mode="RGB", seed=1)
    write_image_folder(root / "val", {"a": 3, "b": 2}, mode="RGB", seed=2)
    write_image_folder(root / "test", {"a": 4, "b": 4}, mode="RGB", seed=3)
    dm = make(root, channels=3, num_classes=2)
    assert {k: len(v["target"]) for k, v in dm.tensors.items()} == {
        "train": 24,
        "val": 5,
        "test": 8,
    }
    assert dm.tensors["val"]["x"].shape == (5, 3, 8, 8)
    offset, scale = dm.stats["x"]
    assert offset.shape == scale.shape == (1, 3, 1, 1)


def test_a_missing_val_folder_is_carved_out_of_train(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    write_image_folder(root / "train", {"a": 20, "b": 20})
    write_image_folder(root / "test", {"a": 5, "b": 5}, seed=1)
    dm = make(root, num_classes=2)
    assert {k: len(v["target"]) for k, v in dm.tensors.items()} == {
        "train": 34,
        "val": 6,
        "test": 10,
    }


def test_streaming_serves_the_batches_memory_would(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", CLASSES, mode="RGB")
    held = make(root, channels=3, in_memory=True)
    streamed = make(root, channels=3, in_memory=False, num_workers=0)
    assert held.tensors and not streamed.tensors
    for split in ("train", "val"):
        a = batches(getattr(held, f"{split}_dataloader")(), held)
        b = batches(getattr(streamed, f"{split}_dataloader")(), streamed)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x["target"], y["target"])
            assert torch.allclose(x["x"], y["x"], atol=1e-6)


@pytest.mark.parametrize("in_memory", [True, False])
def test_fingerprint_changes_with_one_pixel_of_one_image(tmp_path: Path, in_memory: bool) -> None:
    from PIL import Image

    root = write_image_folder(tmp_path / "imgs", CLASSES)
    before = make(root, in_memory=in_memory, num_workers=0).fingerprint()
    assert set(before) == {"train", "val", "test"}
    assert make(root, in_memory=in_memory, num_workers=0).fingerprint() == before  # stable
    image = root / "bee" / "004.png"
    pixels = np.array(Image.open(image))
    pixels[:, :] = 255 - pixels  # a different image of the same size and class
    Image.fromarray(pixels).save(image)
    after = make(root, in_memory=in_memory, num_workers=0).fingerprint()
    assert sum(after[k] != before[k] for k in before) == 1  # only the split holding it


@pytest.mark.parametrize(("budget_mb", "in_memory"), [(1e-4, False), (64, True)])
def test_auto_holds_images_in_memory_when_they_fit(
    tmp_path: Path, budget_mb: float, in_memory: bool
) -> None:
    dm = make(write_image_folder(tmp_path / "imgs", CLASSES), memory_budget_mb=budget_mb)
    assert bool(dm.tensors) == in_memory  # 60 images x 64 bytes = 0.004 MB


def test_ranks_read_disjoint_shards_in_the_tensor_loaders_order(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", {"a": 11, "b": 12})
    shards: dict[str, list[list[int]]] = {"train": [], "val": []}
    for rank in (0, 1):
        dm = make(root, num_classes=2, in_memory=False, num_workers=0, val_fraction=0.3)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)  # type: ignore[assignment]
        for split in shards:
            shards[split].append(list(getattr(dm, f"{split}_dataloader")().sampler))
    train, val = shards["train"], shards["val"]
    assert len(train[0]) == len(train[1]) and not set(train[0]) & set(train[1])  # even shards
    n_val = len(dm.files["val"])
    assert val == [list(range(0, n_val, 2)), list(range(1, n_val, 2))]  # every image once


def test_too_few_images_for_a_split(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", {"a": 3, "b": 3})
    with pytest.raises(ConfigError, match=r"dataset.test_fraction=0.15: expected a share that"):
        make(root, num_classes=2)


ERRORS = {
    "missing folder": (None, ConfigError, r"dataset.path='.*nowhere': expected an existing folder"),
    "empty class folder": ("empty", DataError, r"class folder .*imgs/dog has no images"),
    "unreadable image": ("broken", DataError, r"cannot read image .*imgs/bee/bad.png"),
    "one class": ("one", DataError, r"has one class sub-folder \(ant\): a classifier needs"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_name_the_folder_or_file(tmp_path: Path, case: str) -> None:
    kind, error, message = ERRORS[case]
    root = tmp_path / "imgs"
    if kind == "one":
        write_image_folder(root, {"ant": 3})
    elif kind is not None:
        write_image_folder(root, {"ant": 10, "bee": 10})
        (root / "dog").mkdir()
        (root / "dog" / "notes.txt").write_text("not an image")
        if kind == "broken":
            shutil.rmtree(root / "dog")
            (root / "bee" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(error, match=message):
        make(tmp_path / "nowhere" if kind is None else root, num_classes=3 - (kind != "empty"))


def test_a_missing_folder_fails_validation(compose_cfg: Compose, tmp_path: Path) -> None:
    cfg = compose_cfg("experiment=image_folder_cnn", f"dataset.path={tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match=r"dataset.path=.*nowhere': expected an existing folder"):
        run(cfg)


def test_trains_and_predicts_new_images_without_the_training_folder(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    root = write_image_folder(tmp_path / "imgs", CLASSES)
    common = ["experiment=image_folder_cnn", "dataset.channels=1", "dataset.image_size=8"]
    metrics = train(compose_cfg(*common, f"dataset.path={root}", run_dir=tmp_path / "fit"))
    assert 0 <= metrics["test/acc"] <= 1
    ckpt = f"ckpt_path={metrics['best_checkpoint']}"

    def predicted(folder: Path, name: str) -> dict[str, dict[str, str]]:
        overrides = ["mode=predict", "predict.split=all", ckpt, f"dataset.path={folder}"]
        out = predict(compose_cfg(*common, *overrides, run_dir=tmp_path / name))
        with open(out["predictions"], newline="") as f:
            return {row["index"]: row for row in csv.DictReader(f)}

    before = predicted(root, "before")  # every image, class folders in order: ant, bee, cat
    new = tmp_path / "new"
    (new / "bee").mkdir(parents=True)
    shutil.copy(root / "ant" / "003.png", new / "loose.png")  # no class: target -1
    shutil.copy(root / "bee" / "005.png", new / "bee" / "005.png")
    shutil.rmtree(root)
    after = predicted(new, "after")
    assert [after[i]["target"] for i in ("0", "1")] == ["-1", "1"]
    for i, j in (("0", "3"), ("1", "25")):  # ant/003 is row 3, bee/005 row 20 + 5
        probs = [k for k in after[i] if k.startswith("prob_")]
        assert [float(after[i][k]) for k in probs] == pytest.approx(
            [float(before[j][k]) for k in probs], abs=1e-5
        )


def test_streamed_training_with_worker_processes(compose_cfg: Compose, tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    write_image_folder(root / "train", {"a": 16, "b": 16}, mode="RGB")
    write_image_folder(root / "test", {"a": 4, "b": 4}, mode="RGB", seed=1)
    cfg = compose_cfg(
        "experiment=image_folder_cnn",
        f"dataset.path={root}",
        "dataset.image_size=12",
        "dataset.task=binary",
        "dataset.in_memory=false",
        "dataset.num_workers=1",
    )
    assert (cfg.dataset.num_classes, cfg.dataset.num_outputs) == (2, 1)
    metrics = train(cfg)
    assert np.isfinite(metrics["test/loss"]) and 0 <= metrics["test/auroc"] <= 1


@pytest.mark.slow
def test_ddp_predicts_every_streamed_image_once_in_order(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    root = write_image_folder(tmp_path / "imgs", {"a": 15, "b": 16})
    common = ["experiment=image_folder_cnn", f"dataset.path={root}", "dataset.channels=1"]
    metrics = train(compose_cfg(*common, "test=false", run_dir=tmp_path / "fit"))
    streamed = ["dataset.in_memory=false", "dataset.num_workers=0", "predict.split=all"]
    predict_args = [*common, *streamed, "mode=predict", f"ckpt_path={metrics['best_checkpoint']}"]
    ddp = ["hardware=ddp_cpu", "hardware.devices=2"]
    predict(compose_cfg(*predict_args, *ddp, run_dir=tmp_path / "ddp"))
    predict(compose_cfg(*predict_args, run_dir=tmp_path / "one"))
    two, one = ((tmp_path / r / "predictions.csv").read_text().splitlines() for r in ("ddp", "one"))
    assert len(two) == len(one) == 1 + 31  # odd: the ranks' shards differ by one image
    assert [r.split(",")[:3] for r in two] == [r.split(",")[:3] for r in one]
