"""``model.json`` and ``preprocessing.json``: what an exported file needs beside it to be used."""

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from src.export.model import Batch

FORMAT_VERSION = 1
LIBRARIES = ("torch", "lightning", "onnx", "onnxruntime", "onnxscript", "numpy")


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def jsonable(value: Any) -> Any:
    """Tensors and arrays as lists, numpy scalars as numbers, tuples as lists, recursively."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _dtype(x: torch.Tensor) -> str:
    return str(x.dtype).removeprefix("torch.")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def model_card(
    samples: Batch,
    output: np.ndarray,
    task: str | None,
    class_names: list[str],
    files: dict[str, str],
    checks: dict[str, dict[str, float]],
    checkpoint: str,
) -> dict[str, Any]:
    """The contents of ``model.json``: inputs, output, classes, files, their checks, the source."""
    run_dir = Path(checkpoint).resolve().parent.parent  # <run>/checkpoints/<file>.ckpt
    source_metrics = run_dir / "metrics.json"
    return {
        "format_version": FORMAT_VERSION,
        "task": task,
        "inputs": [
            {
                "name": name,
                "dtype": str(x.dtype).removeprefix("torch."),
                "shape": ["batch", *x.shape[1:]],
            }
            for name, x in samples.items()
        ],
        "output": {"name": "output", "shape": ["batch", *output.shape[1:]]},
        "class_names": class_names,
        "files": files,
        "parity": checks,
        "preprocessing": "normalisation is inside the graph; preprocessing.json holds the "
        "datamodule's state (statistics, class names, a table's column encoding)",
        "source": {
            "checkpoint": str(Path(checkpoint).resolve()),
            "sha256": sha256(checkpoint),
            "metrics": json.loads(source_metrics.read_text()) if source_metrics.is_file() else {},
        },
        "versions": versions(),
    }
