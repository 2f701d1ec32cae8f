"""Multimodal fusion: one encoder per modality (any of the project's networks), fused.

Each encoder is an existing network built with ``num_outputs = dim``: its output is the
modality's embedding (B, dim). :class:`FusionNet` combines the embeddings by

- ``concat`` (early/feature fusion): the embeddings joined, then an MLP head;
- ``late``: a linear head per modality, their logits averaged with fixed or learned weights;
- ``attention``: a learned query attends over the modality embeddings (cross-attention), the
  attended vector goes through an MLP head;
- a modality's name (e.g. ``image``): that encoder alone, the single-modality baseline.

A modality can be missing: its inputs absent from the batch, or ``<modality>_present`` (B,) 0
for some samples. A missing embedding is replaced by a learned one (``concat``), its logits
drop out of the average (``late``) or it is masked out of the attention. ``modality_dropout``
hides each modality of a training sample with that probability (never all of them), so the
network learns to answer from what is left.
"""

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from src.errors import ConfigError

FUSIONS = ("concat", "late", "attention")


class Encoder(nn.Module):
    """One modality's encoder: ``net`` fed from the batch's named inputs.

    Args:
        net: a network whose output (B, dim) is the modality's embedding.
        inputs: ``net``'s argument -> the batch's input name, e.g. ``{x: image}`` for a CNN,
            ``{tokens: tokens, lengths: lengths}`` for a text network.
    """

    def __init__(self, net: nn.Module, inputs: Mapping[str, str]) -> None:
        super().__init__()
        self.net, self.inputs = net, dict(inputs)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.net(**{arg: batch[name] for arg, name in self.inputs.items()})


class FusionNet(nn.Module):
    """Named inputs of several modalities -> logits (B, num_outputs).

    Args:
        encoders: modality name -> :class:`Encoder` whose net outputs (B, dim).
        num_outputs: logits per sample.
        dim: width of every modality's embedding.
        fusion: ``concat``, ``late``, ``attention``, or a modality's name (that one alone).
        hidden: width of the MLP head (``concat``, ``attention``).
        dropout: dropout in the head.
        late_weights: ``late`` only: a fixed weight per modality (in ``encoders``' order);
            None learns them (softmax over one parameter per modality).
        modality_dropout: probability of hiding each modality of a training sample.
        heads: ``attention`` only: attention heads.
    """

    def __init__(
        self,
        encoders: Mapping[str, Encoder],
        num_outputs: int,
        dim: int,
        fusion: str = "concat",
        hidden: int = 128,
        dropout: float = 0.1,
        late_weights: Sequence[float] | None = None,
        modality_dropout: float = 0.0,
        heads: int = 4,
    ) -> None:
        super().__init__()
        _check(encoders, fusion, late_weights, modality_dropout)
        if fusion in encoders:  # the single-modality baseline: the others are not even built
            encoders = {fusion: encoders[fusion]}
        self.names, self.fusion, self.p_drop = list(encoders), fusion, modality_dropout
        self.encoders = nn.ModuleDict(encoders)
        m = len(self.names)
        self.missing = nn.Parameter(torch.zeros(m, dim))  # the embedding of a missing modality
        if fusion == "attention":
            self.kind = nn.Parameter(torch.randn(m, dim) * 0.02)  # which modality a token is
            self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.attend = nn.MultiheadAttention(dim, heads, batch_first=True)
        if fusion in ("late", *self.names):
            self.heads = nn.ModuleList(nn.Linear(dim, num_outputs) for _ in self.names)
            fixed = torch.tensor(list(late_weights or [1.0] * m), dtype=torch.float32)
            self.register_buffer("fixed_weights", fixed)
            self.weight_logits = nn.Parameter(torch.zeros(m), requires_grad=late_weights is None)
        else:
            width = dim * (m if fusion == "concat" else 1)
            self.head = nn.Sequential(
                nn.LayerNorm(width), nn.Linear(width, hidden), nn.ReLU(),
                nn.Dropout(dropout), nn.Linear(hidden, num_outputs),
            )  # fmt: skip

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        keep = self._kept(inputs)  # (B, M) bool
        embeddings = torch.where(keep[..., None], self._encode(inputs, keep), self.missing)
        if self.fusion == "concat":
            return self.head(embeddings.flatten(1))
        if self.fusion == "attention":
            return self.head(self._attend(embeddings, keep))
        logits = torch.stack([h(embeddings[:, i]) for i, h in enumerate(self.heads)], 1)
        fixed: torch.Tensor = self.fixed_weights  # type: ignore[assignment]
        weights = fixed * self.weight_logits.softmax(0) * keep  # (B, M)
        weights = weights / weights.sum(1, keepdim=True).clamp(min=1e-8)
        return (weights[..., None] * logits).sum(1)  # (B, num_outputs)

    def _encode(self, inputs: Mapping[str, torch.Tensor], keep: torch.Tensor) -> torch.Tensor:
        """(B, M, dim); a modality whose inputs the batch lacks is not encoded. Whether to
        encode depends on the batch's keys only, never on values, so the graph exports."""
        columns = [
            encoder(inputs)
            if all(k in inputs for k in encoder.inputs.values())  # type: ignore[operator]
            else self.missing[i].expand(len(keep), -1)
            for i, encoder in enumerate(self.encoders.values())
        ]
        return torch.stack(columns, dim=1)

    def _attend(self, embeddings: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        tokens = embeddings + self.kind  # (B, M, dim)
        ignore = ~keep & keep.any(1, keepdim=True)  # a sample with nothing attends to all
        query = self.query.expand(len(tokens), -1, -1)
        out, _ = self.attend(query, tokens, tokens, key_padding_mask=ignore, need_weights=False)
        return out[:, 0]  # (B, dim)

    def _kept(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, M) bool: which modalities each sample has (and keeps, in training)."""
        batch = len(next(iter(inputs.values())))
        device = next(iter(inputs.values())).device
        columns = []
        for name, encoder in zip(self.names, self.encoders.values(), strict=True):
            if not all(k in inputs for k in encoder.inputs.values()):  # type: ignore[operator]
                columns.append(torch.zeros(batch, dtype=torch.bool, device=device))
            elif f"{name}_present" in inputs:
                columns.append(inputs[f"{name}_present"].reshape(batch).bool())
            else:
                columns.append(torch.ones(batch, dtype=torch.bool, device=device))
        present = torch.stack(columns, 1)
        if not (self.training and self.p_drop > 0 and len(self.names) > 1):
            return present
        kept = present & (torch.rand(present.shape, device=device) >= self.p_drop)
        return torch.where(kept.any(1, keepdim=True), kept, present)


def _check(
    encoders: Mapping[str, Encoder],
    fusion: str,
    late_weights: Sequence[float] | None,
    modality_dropout: float,
) -> None:
    if fusion not in (*FUSIONS, *encoders):
        raise ConfigError(
            "model.net.fusion", fusion, f"one of {[*FUSIONS, *encoders]} (a name: that alone)"
        )
    if late_weights is not None and len(late_weights) != len(encoders):
        raise ConfigError(
            "model.net.late_weights",
            list(late_weights),
            f"one weight per encoder ({list(encoders)}), or null to learn them",
        )
    if not 0.0 <= modality_dropout < 1.0:
        raise ConfigError("model.net.modality_dropout", modality_dropout, "a probability in [0, 1)")
