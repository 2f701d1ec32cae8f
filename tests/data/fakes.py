"""Small stand-ins for the MNIST idx files and CIFAR-10 python batches, in the real formats."""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

from src.data.vision_files import IDX_FILES


def images(n: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose mean brightness encodes the class, so a network can learn them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = rng.integers(0, 60, (n, *shape)) + (y * 19).reshape(-1, *[1] * len(shape))
    return x.astype(np.uint8), y.astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if gz:
        Path(f"{path}.gz").write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def write_mnist(
    root: Path, name: str = "MNIST", n_train: int = 200, n_test: int = 50, gz: bool = False
) -> tuple[np.ndarray, ...]:
    """Writes ``root/<name>/raw/{train,t10k}-{images,labels}-idx*-ubyte[.gz]``."""
    folder = root / name / "raw"
    folder.mkdir(parents=True)
    arrays = (*images(n_train, (28, 28), 0), *images(n_test, (28, 28), 1))
    for filename, array in zip(IDX_FILES, arrays, strict=True):
        write_idx(folder / filename, array, gz)
    return arrays


def write_cifar10(root: Path, per_batch: int = 40, n_test: int = 50) -> tuple[np.ndarray, ...]:
    """Writes ``root/cifar-10-batches-py/`` with five train batches, a test batch and meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    xs, ys = images(5 * per_batch, (3, 32, 32), 0)
    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        batch = {b"data": xs[part].reshape(per_batch, -1), b"labels": ys[part].tolist()}
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch))
    x_test, y_test = images(n_test, (3, 32, 32), 1)
    test = {b"data": x_test.reshape(n_test, -1), b"labels": y_test.tolist()}
    (folder / "test_batch").write_bytes(pickle.dumps(test))
    names = [c.encode() for c in ("airplane", "automobile", "bird", "cat", "deer", "dog")]
    names += [c.encode() for c in ("frog", "horse", "ship", "truck")]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    return xs, ys, x_test, y_test
