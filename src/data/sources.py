"""Data sources: callables returning a :class:`Arrays` of the whole data set.

A source only loads; splitting, normalising and batching happen in the DataModule. Sources
that ship with a package (digits, breast cancer) or are generated (MNIST-1D) need no network;
torchvision sources download when allowed and otherwise say where to put the files.
"""

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from src.data.vision_files import VISION_SETS
from src.errors import ConfigError, DataError

Inputs = dict[str, np.ndarray]


@dataclass
class Arrays:
    """A whole data set: named inputs and a target per sample.

    ``x`` is one array, the input named ``x`` (N, *input_shape), or several named arrays with
    the same first dimension, e.g. ``{"image": (N, 1, 8, 8), "tokens": (N, T)}``: batches then
    carry each name, and a network's ``forward`` takes them as keyword arguments. Floating-point
    inputs are standardised with train-split statistics; 8-bit images stay uint8 in memory (a
    quarter of the size) and are normalised per batch on the device; other integer inputs
    (token or item ids) are served as they are.

    ``y`` holds integer class labels (classification) or float values (regression), shape (N,)
    or (N, K). ``x_test``/``y_test`` are set when the source has an official test split.
    """

    x: np.ndarray | Inputs
    y: np.ndarray
    x_test: np.ndarray | Inputs | None = None
    y_test: np.ndarray | None = None
    class_names: list[str] | None = None

    @property
    def inputs(self) -> Inputs:
        return as_inputs(self.x)

    @property
    def test_inputs(self) -> Inputs | None:
        return None if self.x_test is None else as_inputs(self.x_test)


@runtime_checkable
class FittedSource(Protocol):
    """A source that learns part of its encoding from the data, e.g. a table's imputation values.

    The DataModule calls :meth:`fit` with the row numbers of the training split (rows of ``x``,
    then of ``x_test``) before taking the data it serves from a second call, so that nothing is
    learned from validation or test rows. Its :meth:`state_dict` is saved in every checkpoint
    with the DataModule's own; :meth:`load_state_dict` restores it before the source is called,
    so new data are encoded exactly as the training data were, without the training data.
    """

    def __call__(self) -> Arrays: ...

    def fit(self, rows: np.ndarray) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def as_inputs(x: np.ndarray | Inputs) -> Inputs:
    """``x`` as named inputs: a single array is the input named ``x``."""
    return dict(x) if isinstance(x, dict) else {"x": x}


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


def load_torchvision(name: str, root: str, download: bool = True) -> Arrays:
    """MNIST, FashionMNIST or CIFAR10 from ``root`` as uint8 images (N, C, H, W).

    Missing files are downloaded with torchvision's official URLs and checksums when
    ``download`` is true; otherwise, or when the download fails, a :class:`DataError` says
    which files to put in which folder.

    Args:
        name: ``MNIST``, ``FashionMNIST`` or ``CIFAR10``.
        root: folder holding the data set's folder (torchvision's layout).
        download: fetch missing files from the internet.
    """
    if name not in VISION_SETS:
        raise ConfigError("dataset.source.name", name, "one of " + ", ".join(VISION_SETS))
    spec = VISION_SETS[name]
    folder = Path(root) / spec.subdir
    if missing := spec.missing(folder):
        _fetch(name, Path(root), folder, download, missing)
    try:
        x, y, x_test, y_test, class_names = spec.read(folder)
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as e:
        raise DataError(
            f"{name}: the files in {folder} cannot be read ({type(e).__name__}: {e}). "
            "Replace them, or delete the folder to download them again."
        ) from e
    return Arrays(x, y, x_test, y_test, class_names)


def _fetch(name: str, root: Path, folder: Path, download: bool, missing: list[str]) -> None:
    spec = VISION_SETS[name]
    where = f"{name}: {folder}/ lacks {', '.join(missing)}"
    offline = f"Offline, put the files there ({spec.origin})"
    if not download:
        raise DataError(
            f"{where} and dataset.source.download=false. {offline}, "
            "or set dataset.source.download=true on a machine with internet."
        )
    try:
        spec.fetch(root)
    except (OSError, RuntimeError) as e:  # no network (URLError), bad checksum (RuntimeError)
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise DataError(f"{where} and downloading them failed ({reason}). {offline}.") from e
    if still := spec.missing(folder):
        raise DataError(f"{name}: downloaded, but {folder}/ still lacks {', '.join(still)}.")
