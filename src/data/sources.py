"""Data sources: callables returning a :class:`Arrays` of the whole data set.

A source only loads; splitting, normalising and batching happen in the DataModule. Sources
that ship with a package (digits, breast cancer) or are generated (MNIST-1D) need no network;
torchvision sources download when allowed and otherwise say where to put the files.
"""

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.errors import DataError


@dataclass
class Arrays:
    """Features ``x`` (N, *input_shape) float32 and integer labels ``y`` (N,).

    ``x_test``/``y_test`` are set when the source has an official test split.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: list[str] | None = None


def load_digits() -> Arrays:
    """scikit-learn's 8x8 digits as (N, 1, 8, 8) images with values 0..16."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return Arrays(
        d.images[:, None].astype(np.float32),
        d.target.astype(np.int64),
        class_names=[str(c) for c in d.target_names],
    )


def load_breast_cancer() -> Arrays:
    """Wisconsin breast cancer: (569, 30) features, label 1 = benign."""
    from sklearn.datasets import load_breast_cancer as sk_bc

    d = sk_bc()
    return Arrays(
        d.data.astype(np.float32),
        d.target.astype(np.int64),
        class_names=[str(c) for c in d.target_names],
    )


def load_mnist1d(cache_dir: str, num_samples: int = 5000, seed: int = 42) -> Arrays:
    """MNIST-1D generated offline with the paper's default arguments, cached as a pickle.

    Args:
        cache_dir: folder for the generated pickle (generation takes a few seconds).
        num_samples: total samples; the package keeps 80 % for training.
        seed: the generator's seed (the paper's data set uses 42).
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    key = hashlib.sha1(repr(sorted(vars(args).items())).encode()).hexdigest()[:10]
    path = Path(cache_dir) / f"mnist1d_{key}.pkl"
    if path.is_file():
        data = pickle.loads(path.read_bytes())
    else:
        data = make_dataset(args)  # generation only; never mnist1d's download path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps({k: data[k] for k in ("x", "y", "x_test", "y_test")}))
    return Arrays(
        data["x"][:, None].astype(np.float32),
        data["y"].astype(np.int64),
        data["x_test"][:, None].astype(np.float32),
        data["y_test"].astype(np.int64),
        class_names=[str(i) for i in range(10)],
    )


_TORCHVISION_FILES = {
    "MNIST": "{root}/MNIST/raw/ (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz)",
    "FashionMNIST": "{root}/FashionMNIST/raw/ (the same four *-ubyte files as MNIST)",
    "CIFAR10": "{root}/cifar-10-batches-py/ (unpack cifar-10-python.tar.gz in {root})",
}


def load_torchvision(name: str, root: str, download: bool = True) -> Arrays:
    """MNIST, FashionMNIST or CIFAR10 through torchvision, held as uint8-valued float arrays.

    Args:
        name: the torchvision class name.
        root: folder holding (or receiving) the files.
        download: try to download missing files; offline this fails with a DataError.
    """
    import torchvision.datasets as tvd

    if name not in _TORCHVISION_FILES:
        raise DataError(
            f"dataset.source.name={name!r}: expected one of {sorted(_TORCHVISION_FILES)}"
        )
    cls = getattr(tvd, name)
    try:
        train, test = (cls(root, train=t, download=download) for t in (True, False))
    except Exception as e:  # torchvision raises RuntimeError/URLError/OSError depending on cause
        where = _TORCHVISION_FILES[name].format(root=root)
        raise DataError(
            f"{name} could not be loaded from {root} ({type(e).__name__}: {e}). "
            f"Without internet, put the files in {where}; with internet, keep "
            f"dataset.source.download=true."
        ) from e
    return Arrays(*_to_arrays(train), *_to_arrays(test), class_names=list(train.classes))


def _to_arrays(ds: object) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(ds.data)  # type: ignore[attr-defined]  # (N, H, W) or (N, H, W, C) uint8
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return x.astype(np.float32), np.asarray(ds.targets, dtype=np.int64)  # type: ignore[attr-defined]
