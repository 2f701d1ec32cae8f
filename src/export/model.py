"""The exported network: a task module's ``forward`` with the data's preprocessing in the graph.

An exported file takes the inputs as a user holds them, not as the loaders hand them to the
module: images as uint8 pixels, table rows as encoded columns before standardisation. The
normalisation the datamodule learned from the training split (its ``stats``: per input, an
offset and a scale) becomes part of the graph, so the file needs nothing else to predict.
"""

import inspect
from collections.abc import Iterable, Mapping

import lightning.pytorch as pl
import torch
from torch import nn

from src.errors import UserError

Batch = dict[str, torch.Tensor]
Stats = Mapping[str, tuple[torch.Tensor, torch.Tensor]]


class InferenceModel(nn.Module):
    """``module(**inputs)`` on raw inputs given positionally, in ``names`` order.

    Args:
        module: the trained task module (its ``forward`` takes the named inputs).
        names: the inputs' names, the order of the exported graph's inputs.
        stats: per input name, the (offset, scale) the datamodule normalises it with
            (``(x - offset) / scale``); inputs without stats (e.g. token ids) pass unchanged.
    """

    def __init__(self, module: nn.Module, names: list[str], stats: Stats) -> None:
        super().__init__()
        self.module, self.names = module, names
        self.normalised = [n for n in names if n in stats]
        for name in self.normalised:
            offset, scale = stats[name]
            self.register_buffer(f"offset_{name}", offset.detach().float().clone())
            self.register_buffer(f"scale_{name}", scale.detach().float().clone())

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.names, inputs, strict=True))
        for name in self.normalised:
            offset, scale = getattr(self, f"offset_{name}"), getattr(self, f"scale_{name}")
            named[name] = (named[name].float() - offset) / scale
        return self.module(**named)


def raw_samples(batches: Iterable[Batch], stats: Stats, count: int) -> Batch:
    """Up to ``count`` samples of a split's loader as the user holds them (no target).

    The in-memory loaders serve float inputs already standardised (at setup) and uint8 images
    raw: floats are taken back to their own units with their stats, uint8 stays as it is.
    """
    parts: dict[str, list[torch.Tensor]] = {}
    taken = 0
    for batch in batches:
        for name, x in batch.items():
            if name == "target":
                continue
            if x.is_floating_point() and name in stats:
                offset, scale = stats[name]
                x = x * scale + offset
            parts.setdefault(name, []).append(x)
        taken += len(next(iter(batch.values())))
        if taken >= count:
            break
    return {name: _padded_cat(xs)[:count] for name, xs in parts.items()}


def _padded_cat(xs: list[torch.Tensor]) -> torch.Tensor:
    """Batches joined on the first axis; batches padded to their own longest sample (token
    ids) are zero-padded to the longest of all first."""
    shape = [max(x.shape[d] for x in xs) for d in range(1, xs[0].dim())]
    padded = []
    for x in xs:
        pad = [p for d in reversed(range(1, x.dim())) for p in (0, shape[d - 1] - x.shape[d])]
        padded.append(torch.nn.functional.pad(x, pad) if any(pad) else x)
    return torch.cat(padded)


def forward_inputs(module: nn.Module, names: Iterable[str]) -> list[str]:
    """Those of a batch's input ``names`` that ``module.forward`` takes (all, for ``**inputs``).

    A batch may carry more than the network reads (a language model's evaluation batches count
    the bytes each window spells); a module without a ``forward`` (a GAN, whose generator reads
    noise, not the batch) cannot be exported this way.
    """
    if type(module).forward in (nn.Module.forward, pl.LightningModule.forward):
        raise UserError(
            f"mode=export: {type(module).__name__} has no forward() over its batch's inputs, so "
            "there is no inference graph to export. Fix: export a task whose module maps inputs "
            "to outputs (classification, regression, language models)"
        )
    params = inspect.signature(module.forward).parameters.values()
    names = list(names)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return names
    return [n for n in names if n in {p.name for p in params}]
