"""Finished runs read back from their directories: final metrics, overrides, epoch curves."""

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import yaml

from src.utils import provenance


@dataclass
class Run:
    """One finished run as a comparison sees it."""

    path: Path
    params: dict[str, str]  # overridden key -> value, from .hydra/overrides.yaml
    metrics: dict[str, float]  # numeric entries of metrics.json
    curves: list[dict[str, float]] = field(default_factory=list)  # one row per training epoch
    label: str = ""
    # compared provenance fields (commit, versions, machine, data digests) -> short text
    provenance: dict[str, str] = field(default_factory=dict)


def load_run(path: Path) -> Run:
    """Final metrics, overridden params and per-epoch curves of the run in ``path``."""
    raw = load_metrics(path)
    metrics = {
        k: float(v)
        for k, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    overrides_file = path / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
    params = {}
    for item in overrides or []:
        key, _, value = str(item).partition("=")
        params[key.lstrip("+~")] = value
    epochs = int(metrics.get("epochs", math.inf)) if "epochs" in metrics else None
    curves = read_curves(path / "csv" / "metrics.csv", epochs)
    return Run(path, params, metrics, curves, provenance=provenance_fields(path))


def provenance_fields(path: Path) -> dict[str, str]:
    """The compared fields of the run's provenance.json as short text ({} without one)."""
    fields = provenance.flatten(provenance.read(path)) if (path / provenance.FILE).is_file() else {}
    return {k: _short(k, v) for k, v in fields.items() if v is not None}


def _short(label: str, value: Any) -> str:
    return str(value)[:10] if label == "commit" else str(value)


def load_metrics(run_dir: Path) -> dict[str, Any]:
    """``metrics.json`` with its paths relative to the run directory, also for a file written
    when they were absolute: those inside the ``run_dir`` it recorded are made relative."""
    raw: dict[str, Any] = json.loads((run_dir / "metrics.json").read_text())
    recorded = raw.get("run_dir")
    if not isinstance(recorded, str) or not Path(recorded).is_absolute():
        return raw
    root = PurePath(recorded)
    for k, v in raw.items():
        if isinstance(v, str) and PurePath(v).is_relative_to(root):
            raw[k] = PurePath(v).relative_to(root).as_posix() or "."
    return raw


def resolve_path(run_dir: Path, value: str) -> Path:
    """A path from a run's files (see :func:`load_metrics`): relative to ``run_dir``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else run_dir / path


def read_curves(path: Path, epochs: int | None) -> list[dict[str, float]]:
    """Epoch-level values of csv/metrics.csv, one dict per epoch, ``epoch`` included.

    Rows at epoch >= ``epochs`` are the final validate/test of the best checkpoint, not
    training epochs, so they are dropped.
    """
    if not path.is_file():
        return []
    by_epoch: dict[int, dict[str, float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            if epochs is not None and epoch >= epochs:
                continue
            values = {k.removesuffix("_epoch"): float(v) for k, v in row.items() if v and k}
            by_epoch.setdefault(epoch, {}).update(values)
    return [by_epoch[e] | {"epoch": float(e)} for e in sorted(by_epoch)]
