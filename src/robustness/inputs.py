"""Where an attack may move an input: the valid box of its raw values, and the conversion
between the raw values and the normalised ones the loaders serve."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from src.errors import ConfigError

Stats = Mapping[str, tuple[torch.Tensor, torch.Tensor]]


def input_box(
    datamodule: Any, name: str, given: Sequence[float] | None, key: str
) -> tuple[float, float]:
    """``given`` as (low, high), or the smallest and largest raw value of the training split
    (digits: 0 and 16); 8-bit images: 0 and 255."""
    if given is not None:
        if len(given) != 2 or given[0] >= given[1]:
            raise ConfigError(key, list(given), "[low, high] with low < high, in input units")
        return float(given[0]), float(given[1])
    splits = getattr(datamodule, "splits", {})
    train = splits.get("train", splits.get("all", {})).get(name)
    if train is None:
        raise ConfigError(
            key,
            None,
            f"the valid range of input `{name}`: this data module keeps no train split "
            "in memory to read it from",
            f"set {key}=[low, high], e.g. [0,255] for 8-bit images",
        )
    if train.dtype == torch.uint8:
        return 0.0, 255.0
    raw = to_raw(train, getattr(datamodule, "stats", {}), name)
    return float(raw.min()), float(raw.max())


def to_raw(x: torch.Tensor, stats: Stats, name: str) -> torch.Tensor:
    """The input's values before normalisation (uint8 images: as float)."""
    if name not in stats or x.dtype == torch.uint8:
        return x.float()
    offset, scale = (t.to(x.device) for t in stats[name])
    return x * scale + offset


def to_normalised(raw: torch.Tensor, stats: Stats, name: str) -> torch.Tensor:
    """What the network reads: ``(raw - offset) / scale``."""
    if name not in stats:
        return raw
    offset, scale = (t.to(raw.device) for t in stats[name])
    return (raw - offset) / scale


def raw_forward(
    module: torch.nn.Module, batch: Mapping[str, torch.Tensor], stats: Stats, name: str
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``raw -> logits``: ``module`` on the batch with input ``name`` replaced by ``raw``
    (normalised on the way in); the batch's other inputs are held fixed."""
    others = {k: v for k, v in batch.items() if k not in (name, "target")}

    def forward(raw: torch.Tensor) -> torch.Tensor:
        return module(**{name: to_normalised(raw, stats, name)}, **others)

    return forward
