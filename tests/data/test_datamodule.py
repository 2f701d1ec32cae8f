"""The in-memory DataModule: seeded stratified splits, train-only statistics and augmentation,
the weighted sampler, and the TensorLoader's sharding and epoch order."""

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from src.data.augment import BatchAugment
from src.data.datamodule import InMemoryDataModule
from src.data.loader import TensorLoader
from src.data.sources import Arrays, load_digits, load_torchvision
from src.errors import ConfigError
from tests.data.fakes import write_cifar10


def make(source: Any = load_digits, **kw: Any) -> InMemoryDataModule:
    args: dict[str, Any] = {
        "input_shape": [1, 8, 8],
        "num_classes": 10,
        "task": "multiclass",
        "num_outputs": 10,
        "batch_size": 64,
    }
    dm = InMemoryDataModule(source, **(args | kw))
    dm.setup("fit")
    return dm


def test_split_is_seeded() -> None:
    a, b, c = make(seed=1), make(seed=1), make(seed=2)
    for split in ("train", "val", "test"):
        assert torch.equal(a.splits[split]["x"], b.splits[split]["x"])
    assert not torch.equal(a.splits["val"]["x"], c.splits["val"]["x"])
    sizes = {k: len(v["target"]) for k, v in a.splits.items()}
    assert sum(sizes.values()) == 1797 and sizes["test"] == pytest.approx(0.15 * 1797, abs=1)


def test_split_is_stratified() -> None:
    dm = make(seed=3)
    overall = np.bincount(load_digits().y, minlength=10) / 1797
    for split in dm.splits.values():
        y = split["target"]
        share = np.bincount(y.numpy(), minlength=10) / len(y)
        assert np.abs(share - overall).max() < 0.01  # every class keeps its proportion


def _shifted_test_split() -> Arrays:
    """Train samples around 0, an official test split around 100 (like a distribution shift)."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (400, 1, 8, 8)).astype(np.float32)
    x_test = rng.normal(100, 2, (100, 1, 8, 8)).astype(np.float32)
    y = np.arange(400) % 10
    return Arrays(x, y, x_test, np.arange(100) % 10)


def test_normalisation_statistics_come_from_the_train_split_only() -> None:
    dm = make(_shifted_test_split)
    x_train, x_test = dm.splits["train"]["x"], dm.splits["test"]["x"]
    assert x_train.mean().item() == pytest.approx(0, abs=1e-4)
    assert x_train.std().item() == pytest.approx(1, abs=1e-3)
    assert x_test.mean().item() == pytest.approx(50, abs=1)  # (100 - 0) / 2: not re-centred


def test_minmax_maps_the_train_split_to_unit_range() -> None:
    x = make(normalize="minmax").splits["train"]["x"]
    assert x.min().item() == 0 and x.max().item() == 1


def test_uint8_images_stay_uint8_and_are_normalised_per_batch(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    dm = make(
        lambda: load_torchvision("CIFAR10", str(tmp_path), download=False),
        input_shape=[3, 32, 32],
        batch_size=1000,
        val_fraction=0.1,
    )
    x_raw, y = dm.splits["train"]["x"], dm.splits["train"]["target"]
    assert x_raw.dtype == torch.uint8  # a quarter of float32's memory
    x = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)["x"]
    assert x.dtype == torch.float32
    per_channel = x.transpose(0, 1).flatten(1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(per_channel.std(1), torch.ones(3), atol=1e-2)
    assert len(y) == 180


def test_augmentation_applies_to_training_batches_only() -> None:
    dm = make(augment=BatchAugment(max_translate=2, noise_std=0.5))
    batch = next(iter(dm.val_dataloader()))
    dm.trainer = SimpleNamespace(training=False)  # type: ignore[assignment]
    out = dm.on_after_batch_transfer(dict(batch), 0)
    assert torch.equal(out["x"], batch["x"]) and torch.equal(out["target"], batch["target"])
    dm.trainer = SimpleNamespace(training=True)  # type: ignore[assignment]
    out = dm.on_after_batch_transfer(dict(batch), 0)
    assert not torch.allclose(out["x"], batch["x"]) and torch.equal(out["target"], batch["target"])
    assert out["x"].shape == batch["x"].shape


def test_inactive_augmentation_is_dropped() -> None:
    assert make(augment=BatchAugment()).augment is None


def _imbalanced() -> Arrays:
    y = np.repeat([0, 1, 2], [800, 150, 50])
    return Arrays(np.random.default_rng(0).normal(size=(1000, 4)).astype(np.float32), y)


@pytest.mark.parametrize("sampler", ["uniform", "weighted"])
def test_weighted_sampler_draws_classes_equally(sampler: str) -> None:
    dm = make(_imbalanced, input_shape=[4], num_classes=3, num_outputs=3, sampler=sampler)
    counts: Counter[int] = Counter()
    loader = dm.train_dataloader()
    for epoch in range(5):
        loader.sampler.set_epoch(epoch)
        counts.update(torch.cat([b["target"] for b in loader]).tolist())
    share = np.array([counts[c] for c in range(3)]) / sum(counts.values())
    if sampler == "weighted":
        assert np.abs(share - 1 / 3).max() < 0.03
    else:
        assert share[0] == pytest.approx(0.8, abs=0.01)


def test_mismatched_input_shape_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.input_shape=\[1, 28, 28\].*\[1, 8, 8\]"):
        make(input_shape=[1, 28, 28])


def test_too_few_classes_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.num_classes=5.*num_classes=10"):
        make(num_classes=5, num_outputs=5)


def _loader(**kw: Any) -> TensorLoader:
    x = torch.arange(103).float().unsqueeze(1)
    return TensorLoader({"x": x, "target": torch.arange(103)}, batch_size=10, **kw)


def _order(loader: TensorLoader) -> list[int]:
    return torch.cat([b["target"] for b in loader]).tolist()


def test_tensor_loader_shards_disjointly_by_rank() -> None:
    shards = [_order(_loader(shuffle=True, seed=5, rank=r, world_size=3)) for r in range(3)]
    assert [len(s) for s in shards] == [34, 34, 34]  # equal steps on every rank
    assert len(set().union(*map(set, shards))) == 102  # disjoint
    assert len(_loader(world_size=3)) == 4


def test_evaluation_shards_cover_every_sample_once() -> None:
    loaders = [_loader(rank=r, world_size=3, even_shards=False) for r in range(3)]
    shards = [_order(loader) for loader in loaders]
    assert [len(s) for s in shards] == [35, 34, 34]  # 103 samples: none left out
    assert [len(loader) for loader in loaders] == [4, 4, 4]
    assert sorted(i for shard in shards for i in shard) == list(range(103))
    assert shards[1][:3] == [1, 4, 7]  # strided: row j of rank r is sample j * 3 + r


def test_tensor_loader_order_depends_only_on_the_epoch() -> None:
    a, b = _loader(shuffle=True, seed=5), _loader(shuffle=True, seed=5)
    first = _order(a)
    assert _order(a) == first  # iterating again without set_epoch: same order
    a.sampler.set_epoch(3)
    b.sampler.set_epoch(3)
    assert _order(a) == _order(b) != first
    assert sorted(_order(a)) == list(range(103))  # a permutation: every sample once
    assert _order(_loader()) == list(range(103))  # no shuffle: data order


def test_tensor_loader_drop_last() -> None:
    loader = _loader(drop_last=True)
    assert len(loader) == 10 and all(len(b["target"]) == 10 for b in loader)


def test_batches_move_to_the_device_as_named_tensors() -> None:
    dm = make()
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "target"}
    same = dm.transfer_batch_to_device(batch, torch.device("cpu"), 0)
    assert all(torch.equal(same[k], batch[k]) for k in batch)
    moved = dm.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert [t.device.type for t in moved.values()] == ["meta", "meta"]
    assert moved["x"].shape == batch["x"].shape and moved["target"].dtype == batch["target"].dtype
