"""On-disk formats and download locations of the torchvision image data sets.

The files are read here with NumPy (MNIST's idx files, CIFAR's pickled batches) into uint8
arrays; torchvision is imported only to download and unpack, with its official URLs and
checksums. Reading ourselves keeps 8-bit images 8-bit in memory (a quarter of float32), reads
``.gz`` idx files as they come, and lets test files stand in for the real ones.
"""

import gzip
import math
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

# (x_train, y_train, x_test, y_test, class_names)
Loaded = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]


@dataclass(frozen=True)
class VisionSet:
    """Where one data set's files live under ``root`` and how to read and fetch them.

    Attributes:
        subdir: folder under ``root`` holding the files.
        files: names that must be present (an idx file may also be present as ``<name>.gz``).
        origin: where a user gets the files by hand.
        read: reads the folder into arrays.
        fetch: downloads and unpacks into ``root`` (network).
    """

    subdir: str
    files: tuple[str, ...]
    origin: str
    read: Callable[[Path], Loaded]
    fetch: Callable[[Path], None]

    def missing(self, folder: Path) -> list[str]:
        """Required files absent from ``folder`` (plain or gzipped)."""
        gz = self.files == IDX_FILES
        return [f for f in self.files if _find(folder, f, gz) is None]


def _find(folder: Path, name: str, gz: bool) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz") if gz else (folder / name,):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """An idx file of unsigned bytes (MNIST format), plain or gzipped, as a uint8 array."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path.name} is not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(bytearray(raw), np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(shape):
        raise ValueError(f"{path.name} holds {data.size} bytes, its header says {shape}")
    return data.reshape(shape)


def _read_mnist_like(folder: Path, class_names: list[str]) -> Loaded:
    x, y, x_test, y_test = (read_idx(_find(folder, f, True) or folder / f) for f in IDX_FILES)
    return x[:, None], y.astype(np.int64), x_test[:, None], y_test.astype(np.int64), class_names


def _unpickle(path: Path) -> dict[bytes, object]:
    with path.open("rb") as f:
        return pickle.load(f, encoding="bytes")  # the batches were pickled by Python 2


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)  # rows are R, G, B planes
    return x, np.asarray(d[b"labels"], dtype=np.int64)


def read_cifar10(folder: Path) -> Loaded:
    """CIFAR-10's python batches: (50000, 3, 32, 32) train and (10000, ...) test, uint8."""
    train = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _read_cifar_batch(folder / "test_batch")
    names = _unpickle(folder / "batches.meta")[b"label_names"]
    class_names = [n.decode() for n in names]  # type: ignore[attr-defined]
    x = np.concatenate([b[0] for b in train])
    return x, np.concatenate([b[1] for b in train]), x_test, y_test, class_names


def _fetch_mnist_like(cls_name: str) -> Callable[[Path], None]:
    def fetch(root: Path) -> None:
        import torchvision.datasets as tvd
        from torchvision.datasets.utils import download_and_extract_archive

        cls = getattr(tvd, cls_name)
        folder = root / cls_name / "raw"
        for filename, md5 in cls.resources:
            errors: list[Exception] = []
            for mirror in cls.mirrors:
                try:
                    download_and_extract_archive(
                        mirror + filename, folder, filename=filename, md5=md5
                    )
                    break
                except (
                    OSError,
                    RuntimeError,
                ) as e:  # URLError is an OSError; bad md5 a RuntimeError
                    errors.append(e)
            else:
                raise errors[-1]

    return fetch


def _fetch_cifar10(root: Path) -> None:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(CIFAR10.url, root, filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)


VISION_SETS = {
    "MNIST": VisionSet(
        "MNIST/raw",
        IDX_FILES,
        "the .gz files from https://ossci-datasets.s3.amazonaws.com/mnist/",
        lambda folder: _read_mnist_like(folder, [str(i) for i in range(10)]),
        _fetch_mnist_like("MNIST"),
    ),
    "FashionMNIST": VisionSet(
        "FashionMNIST/raw",
        IDX_FILES,
        "the .gz files from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        lambda folder: _read_mnist_like(folder, FASHION_CLASSES),
        _fetch_mnist_like("FashionMNIST"),
    ),
    "CIFAR10": VisionSet(
        "cifar-10-batches-py",
        CIFAR_FILES,
        "unpack https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz in the parent folder",
        read_cifar10,
        _fetch_cifar10,
    ),
}
