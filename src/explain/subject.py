"""What is explained: a trained classifier as a function of one raw input, and the samples."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from src.errors import ConfigError
from src.explain import methods
from src.robustness.inputs import to_normalised, to_raw


@dataclass
class Subject:
    """The model and samples to explain.

    Attributes:
        name: the explained input of the batches (e.g. ``x``, ``tokens``).
        kind: ``image``, ``signal``, ``table`` or ``tokens`` (see :func:`methods.kind_of`).
        net: the task module (its layers are where Grad-CAM and token attributions look).
        forward: (raw input (N, ...), *others) -> class logits (N, K), K >= 2 (binary:
            [-z/2, z/2], whose softmax is the model's sigmoid(z), so either class can be
            explained).
        x: (N, ...) raw samples (floats; token ids stay integers); y: (N,) their labels.
        others: the model's other inputs for the same samples (e.g. lengths), held fixed.
        explained: (N,) the class each sample's attribution is for.
        baseline: (1, ...) the "absent" input: feature means for rows, zeros otherwise.
    """

    name: str
    kind: str
    net: nn.Module
    forward: methods.Forward
    x: torch.Tensor
    y: torch.Tensor
    others: tuple[torch.Tensor, ...]
    explained: torch.Tensor
    baseline: torch.Tensor

    def on_all(self, raw: torch.Tensor) -> torch.Tensor:
        """The logits of every sample with its explained input replaced by ``raw`` (N, ...)."""
        return self.forward(raw, *self.others)

    @property
    def predicted(self) -> torch.Tensor:
        with torch.no_grad():
            return self.on_all(self.x).argmax(-1)

    def attribute(self, method: str, count: int, opts: Any) -> torch.Tensor:
        """``method``'s attributions of the first ``count`` samples, shaped like them."""
        settings = {"kind": self.kind, "net": self.net, "layer": opts.layer}
        settings |= {"steps": opts.ig_steps, "window": opts.window, "baseline": self.baseline}
        settings["others"] = tuple(o[:count] for o in self.others)
        x, target = self.x[:count], self.explained[:count]
        return methods.attribute(method, self.forward, x, target, **settings)


def explained_input(batch: Mapping[str, torch.Tensor], name: str | None) -> str:
    """``name``, or (None) the input with the most values per sample: the image, the row or the
    token ids rather than, say, their lengths."""
    inputs = [k for k in batch if k != "target"]
    if name is None:
        return max(inputs, key=lambda k: batch[k][0].numel())
    if name not in inputs:
        raise ConfigError("explain.input", name, f"one of the batches' inputs {inputs}")
    return name


def subject_of(
    module: nn.Module,
    stats: Mapping[str, Any],
    batch: Mapping[str, torch.Tensor],
    by: str,
    name: str | None = None,
) -> Subject:
    """The subject for samples ``batch`` (``target`` and the inputs); ``by``: ``predicted`` or
    ``target``, the class explained; ``name``: the input explained (see :func:`explained_input`)."""
    name = explained_input(batch, name)
    other_names = [k for k in batch if k not in (name, "target")]
    x = batch[name] if not batch[name].is_floating_point() else to_raw(batch[name], stats, name)
    x = x.float() if x.dtype == torch.uint8 else x
    kind = methods.kind_of(x)

    def forward(raw: torch.Tensor, *others: torch.Tensor) -> torch.Tensor:
        named = dict(zip(other_names, others, strict=True))
        logits = module(**{name: to_normalised(raw, stats, name)}, **named)
        return torch.cat([-logits / 2, logits / 2], -1) if logits.shape[-1] == 1 else logits

    baseline = x.float().mean(0, keepdim=True) if kind == "table" else torch.zeros_like(x[:1])
    others = tuple(batch[k] for k in other_names)
    target = batch["target"]
    subject = Subject(name, kind, module, forward, x, target, others, target, baseline)
    if by == "predicted":
        subject.explained = subject.predicted
    return subject
