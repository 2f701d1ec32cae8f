"""Digests of the data a run loaded, per split: a changed value in a data file changes them.

A datamodule states its own with a ``fingerprint()`` method returning ``{split: digest}``
(:class:`~src.data.datamodule.InMemoryDataModule`, the image folder); for any other,
:func:`of_datamodule` hashes the tensors behind the loaders of the stage it was set up for.
Hashing runs once, when the data are set up (digits: ~1 ms; 150 MB of CIFAR-10: ~0.1 s), never
per step.
"""

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

# the loaders a datamodule serves once it is set up for a Lightning stage
STAGE_SPLITS = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("predict",),
}


def of_tensors(tensors: Mapping[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of named arrays or CPU tensors: names, dtypes, shapes and
    bytes."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(_numpy(tensors[name]))
        h.update(f"{name}:{array.dtype}:{array.shape};".encode())
        h.update(array.data)  # contiguous: hashed in place, no copy
    return h.hexdigest()[:16]


def _numpy(value: Any) -> np.ndarray:
    if not isinstance(value, torch.Tensor):
        return np.asarray(value)
    value = value.detach().cpu()
    if value.dtype == torch.bfloat16:  # numpy has no bfloat16: hash its bits
        value = value.view(torch.int16)
    return value.numpy()


def of_files(paths: Iterable[str], labels: Iterable[int]) -> str:
    """SHA-256 (first 16 hex digits) of files' bytes and labels, in order (names left out, so
    that a copied data folder has the same fingerprint). Reads every file once."""
    h = hashlib.sha256()
    for path, label in zip(paths, labels, strict=True):
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
        h.update(f";{int(label)};".encode())
    return h.hexdigest()[:16]


def of_loader(loader: Any) -> str:
    """The digest of one loader's data: its named tensors (a TensorLoader), its dataset's own
    ``fingerprint()``, or a TensorDataset's tensors; else a note saying it is not known."""
    tensors = getattr(loader, "tensors", None)
    if isinstance(tensors, Mapping):
        return of_tensors(tensors)
    dataset = getattr(loader, "dataset", None)
    if callable(getattr(dataset, "fingerprint", None)):
        return str(dataset.fingerprint())  # type: ignore[union-attr]
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return of_tensors({str(i): t for i, t in enumerate(dataset.tensors)})
    return f"unknown: {type(loader).__name__} (give the datamodule a fingerprint() method)"


def of_datamodule(datamodule: Any, stage: str) -> dict[str, str]:
    """``{split: digest}`` of a datamodule set up for ``stage``: its own ``fingerprint()``, else
    the loaders of that stage."""
    own = getattr(datamodule, "fingerprint", None)
    if callable(own):
        return dict(own())
    return {
        split: of_loader(getattr(datamodule, f"{split}_dataloader")())
        for split in STAGE_SPLITS.get(stage, ())
    }
