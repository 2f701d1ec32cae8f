"""What is explained: a trained classifier as a function of one raw input, and the samples."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from src.errors import ConfigError
from src.explain import methods
from src.robustness.inputs import raw_forward, to_raw


@dataclass
class Subject:
    """The model and samples to explain.

    Attributes:
        name: the explained input of the batches (e.g. ``x``).
        kind: ``image``, ``signal``, ``table`` or ``tokens`` (see :func:`methods.kind_of`).
        net: the task module (its layers are where Grad-CAM and token attributions look).
        forward: raw input (N, ...) -> class logits (N, K), K >= 2 (binary: [-z/2, z/2],
            whose softmax is the model's sigmoid(z), so either class can be explained).
        x: (N, ...) raw samples (floats; token ids stay integers); y: (N,) their labels.
        explained: (N,) the class each sample's attribution is for.
        baseline: (1, ...) the "absent" input: feature means for rows, zeros otherwise.
    """

    name: str
    kind: str
    net: nn.Module
    forward: methods.Forward
    x: torch.Tensor
    y: torch.Tensor
    explained: torch.Tensor
    baseline: torch.Tensor

    @property
    def predicted(self) -> torch.Tensor:
        with torch.no_grad():
            return self.forward(self.x).argmax(-1)

    def attribute(self, method: str, count: int, opts: Any) -> torch.Tensor:
        """``method``'s attributions of the first ``count`` samples, shaped like them."""
        settings = {"kind": self.kind, "net": self.net, "layer": opts.layer}
        settings |= {"steps": opts.ig_steps, "window": opts.window, "baseline": self.baseline}
        x, target = self.x[:count], self.explained[:count]
        return methods.attribute(method, self.forward, x, target, **settings)


def subject_of(
    module: nn.Module, stats: Mapping[str, Any], batch: Mapping[str, torch.Tensor], by: str
) -> Subject:
    """The subject for samples ``batch`` (``target`` and one input); ``by``: ``predicted`` or
    ``target``, the class explained."""
    inputs = [k for k in batch if k != "target"]
    if len(inputs) != 1:
        raise ConfigError("explain", inputs, "a model with one input (mode=explain explains one)")
    name = inputs[0]
    x = batch[name] if not batch[name].is_floating_point() else to_raw(batch[name], stats, name)
    x = x.float() if x.dtype == torch.uint8 else x
    kind = methods.kind_of(x)
    single = raw_forward(module, {}, stats, name)

    def forward(raw: torch.Tensor) -> torch.Tensor:
        logits = single(raw)
        return torch.cat([-logits / 2, logits / 2], -1) if logits.shape[-1] == 1 else logits

    baseline = x.float().mean(0, keepdim=True) if kind == "table" else torch.zeros_like(x[:1])
    subject = Subject(name, kind, module, forward, x, batch["target"], batch["target"], baseline)
    if by == "predicted":
        subject.explained = subject.predicted
    return subject
