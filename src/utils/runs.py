"""Finished runs read back from their directories: final metrics, overrides, epoch curves."""

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Run:
    """One finished run as a comparison sees it."""

    path: Path
    params: dict[str, str]  # overridden key -> value, from .hydra/overrides.yaml
    metrics: dict[str, float]  # numeric entries of metrics.json
    curves: list[dict[str, float]] = field(default_factory=list)  # one row per training epoch
    label: str = ""


def load_run(path: Path) -> Run:
    """Final metrics, overridden params and per-epoch curves of the run in ``path``."""
    raw = json.loads((path / "metrics.json").read_text())
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
    return Run(path, params, metrics, read_curves(path / "csv" / "metrics.csv", epochs))


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
