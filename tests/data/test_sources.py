"""The torchvision sources read the real file formats and fail offline with one clear message."""

import urllib.request
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import pytest

from src.data.sources import load_torchvision
from src.errors import ConfigError, DataError
from src.experiments.train import train
from tests.conftest import Compose
from tests.data.fakes import write_cifar10, write_mnist


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
@pytest.mark.parametrize("name", ["MNIST", "FashionMNIST"])
def test_mnist_like_reads_idx_files(tmp_path: Path, name: str, gz: bool) -> None:
    x, y, x_test, y_test = write_mnist(tmp_path, name, gz=gz)
    data = load_torchvision(name, str(tmp_path), download=False)
    assert data.x.shape == (200, 1, 28, 28) and data.x.dtype == np.uint8
    assert data.x_test is not None and data.x_test.shape == (50, 1, 28, 28)
    np.testing.assert_array_equal(data.x[:, 0], x)
    np.testing.assert_array_equal(data.y, y)
    np.testing.assert_array_equal(data.x_test[:, 0], x_test)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert data.class_names is not None and len(data.class_names) == 10
    assert data.class_names[9] == ("Ankle boot" if name == "FashionMNIST" else "9")


def test_cifar10_reads_python_batches(tmp_path: Path) -> None:
    x, y, x_test, y_test = write_cifar10(tmp_path)
    data = load_torchvision("CIFAR10", str(tmp_path), download=False)
    assert data.x.shape == (200, 3, 32, 32) and data.x.dtype == np.uint8
    np.testing.assert_array_equal(data.x, x)  # rows are R, G, B planes of 32x32
    np.testing.assert_array_equal(data.y, y)
    np.testing.assert_array_equal(data.x_test, x_test)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert data.class_names is not None and data.class_names[:2] == ["airplane", "automobile"]


@pytest.mark.parametrize(
    ("name", "folder"), [("MNIST", "MNIST/raw"), ("CIFAR10", "cifar-10-batches-py")]
)
def test_missing_files_without_download_name_the_folder(
    tmp_path: Path, name: str, folder: str
) -> None:
    with pytest.raises(DataError) as e:
        load_torchvision(name, str(tmp_path), download=False)
    msg = str(e.value)
    assert str(tmp_path / folder) in msg and "dataset.source.download=false" in msg
    assert "Offline, put the files there" in msg and "\n" not in msg


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every urlopen fails as it would without a network; returns the URLs that were tried."""
    tried: list[str] = []

    def urlopen(request: Any, *args: Any, **kwargs: Any) -> None:
        tried.append(getattr(request, "full_url", request))
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return tried


@pytest.mark.parametrize(
    ("name", "folder", "url"),
    [
        ("MNIST", "MNIST/raw", "ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"),
        ("FashionMNIST", "FashionMNIST/raw", "fashion-mnist"),
        ("CIFAR10", "cifar-10-batches-py", "www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    ],
)
def test_failed_download_says_where_to_put_the_files(
    tmp_path: Path, offline: list[str], name: str, folder: str, url: str
) -> None:
    with pytest.raises(DataError) as e:
        load_torchvision(name, str(tmp_path), download=True)
    msg = str(e.value)
    assert any(url in u for u in offline), offline  # the official URL was tried
    assert str(tmp_path / folder) in msg and "downloading them failed (URLError" in msg
    assert "Offline, put the files there" in msg and "\n" not in msg


def test_present_files_are_not_downloaded(tmp_path: Path, offline: list[str]) -> None:
    write_mnist(tmp_path, gz=True)
    assert len(load_torchvision("MNIST", str(tmp_path), download=True).y) == 200
    assert offline == []


def test_corrupt_file_is_a_data_error(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    (tmp_path / "MNIST/raw/train-labels-idx1-ubyte").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match=r"cannot be read.*not an idx file"):
        load_torchvision("MNIST", str(tmp_path), download=False)


def test_unknown_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset.source.name='SVHN'.*MNIST, FashionMNIST"):
        load_torchvision("SVHN", str(tmp_path))


@pytest.mark.parametrize(
    ("dataset", "write"),
    [
        ("mnist", write_mnist),
        ("fashion_mnist", lambda r: write_mnist(r, "FashionMNIST")),
        ("cifar10", write_cifar10),
    ],
)
def test_training_run_on_local_files(
    compose_cfg: Compose, tmp_path: Path, offline: list[str], dataset: str, write: Any
) -> None:
    root = tmp_path / "datasets"
    write(root)
    cfg = compose_cfg(f"dataset={dataset}", f"paths.data_dir={root}", "trainer.max_epochs=2")
    metrics = train(cfg)
    assert offline == []
    assert metrics["epochs"] == 2 and 0.0 <= metrics["test/acc"] <= 1.0
    assert Path(metrics["run_dir"], "metrics.json").is_file()
