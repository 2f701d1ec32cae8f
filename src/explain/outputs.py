"""The files mode=explain writes for the explained samples: figures per kind of input and the
JSON of each sample's top features."""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from src.explain import figures


def feature_names(kind: str, shape: Sequence[int], given: Sequence[str] | None) -> list[str]:
    """Names of the input's values, flattened: ``given`` (tables), ``pixel(c,h,w)``, ``t<l>``."""
    if given is not None:
        return list(given)
    if kind == "table":
        return [f"feature_{j}" for j in range(shape[0])]
    if kind == "image":
        channels, height, width = shape
        return [
            f"pixel({h},{w})" if channels == 1 else f"pixel({c},{h},{w})"
            for c in range(channels)
            for h in range(height)
            for w in range(width)
        ]
    return [f"c{c}_t{t}" for c in range(shape[0]) for t in range(shape[1])]


def top_features(attr: torch.Tensor, names: Sequence[str], k: int) -> list[dict[str, Any]]:
    """The ``k`` values of one sample's attribution with the largest magnitude, signed."""
    flat = attr.reshape(-1).float()
    top = flat.abs().argsort(descending=True)[:k]
    return [{"feature": names[i], "attribution": float(flat[i])} for i in top]


def write_figures(
    kind: str,
    x: torch.Tensor,
    attributions: Mapping[str, torch.Tensor],
    titles: Sequence[str],
    names: Sequence[str],
    folder: Path,
    top_k: int,
) -> list[str]:
    """One figure per sample (image or signal overlay, bar chart of a row); their names."""
    written = []
    for i, title in enumerate(titles):
        one = {m: a[i] for m, a in attributions.items()}
        path = folder / f"sample_{i:03d}.png"
        if kind == "image":
            figures.image_overlays(x[i], one, title, path)
        elif kind == "signal":
            figures.signal_overlays(x[i], one, title, path)
        else:
            figures.feature_bars(one, names, top_k, title, path)
        written.append(path.name)
    return written


def write_json(path: Path, info: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(info, indent=2))
    return path
