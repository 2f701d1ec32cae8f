"""LoRA: low-rank adapters beside frozen linear layers (Hu et al., 2021).

``y = W x + (alpha / rank) * B A x``: W is frozen, A (rank, in) and B (out, rank) train; B
starts at zero, so an adapted network first computes exactly what the base one does.
:func:`merge` folds ``B A`` into W for export: the merged network is a plain one again.
"""

import fnmatch
import logging
import math
from collections.abc import Sequence

import torch
from torch import nn

from src.errors import ConfigError

log = logging.getLogger(__name__)


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base, self.scale = base, alpha / rank
        base.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = self.dropout(x) @ self.lora_a.T @ self.lora_b.T  # (..., out)
        return self.base(x) + self.scale * update

    def merged(self) -> nn.Linear:
        """The base layer with ``scale * B A`` added to its weight."""
        with torch.no_grad():
            self.base.weight += self.scale * (self.lora_b @ self.lora_a)
        return self.base


class LoRAConv2d(nn.Module):
    """A frozen ``nn.Conv2d`` plus a trainable low-rank update: ``A`` a convolution with the
    base's kernel to ``rank`` channels, ``B`` a 1x1 convolution back (zero at first)."""

    def __init__(self, base: nn.Conv2d, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if base.groups != 1:
            raise ConfigError("model.lora.target_modules", base, "convolutions with groups=1")
        self.base, self.scale = base, alpha / rank
        base.requires_grad_(False)
        kernel, stride = base.kernel_size, base.stride
        self.lora_a = nn.Conv2d(base.in_channels, rank, kernel, stride, bias=False)  # type: ignore[arg-type]
        self.lora_a.padding, self.lora_a.dilation = base.padding, base.dilation
        self.lora_b = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.zeros_(self.lora_b.weight)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.lora_b(self.lora_a(self.dropout(x)))

    def merged(self) -> nn.Conv2d:
        """The base convolution with ``scale * B A`` added to its kernel."""
        update = torch.einsum("or,rikl->oikl", self.lora_b.weight[:, :, 0, 0], self.lora_a.weight)
        with torch.no_grad():
            self.base.weight += self.scale * update
        return self.base


ADAPTERS: dict[type[nn.Module], type[nn.Module]] = {nn.Linear: LoRALinear, nn.Conv2d: LoRAConv2d}


class LoRA:
    """Which linear (or 2-D convolution) layers get adapters, and their size (``model.lora``).

    Args:
        rank: rank of each update.
        alpha: the update is scaled by alpha / rank.
        target_modules: glob patterns over the network's module names (``blocks.*.attn.qkv``)
            or their end (``qkv``, ``attn.proj``); every matching ``nn.Linear`` or
            ``nn.Conv2d`` is adapted.
        dropout: dropout on the adapters' input.
    """

    def __init__(
        self, rank: int = 8, alpha: float = 16.0, target_modules: Sequence[str] = ("qkv",),
        dropout: float = 0.0,
    ) -> None:  # fmt: skip
        if rank < 1:
            raise ConfigError("model.lora.rank", rank, "an integer >= 1")
        self.rank, self.alpha, self.dropout = rank, alpha, dropout
        self.target_modules = list(target_modules)

    def apply(self, net: nn.Module) -> nn.Module:
        """Freeze ``net`` and put adapters beside the matching linear layers (in place)."""
        names = [n for n, m in net.named_modules() if type(m) in ADAPTERS]
        chosen = [n for n in names if self._matches(n)]
        if not chosen:
            raise ConfigError(
                "model.lora.target_modules",
                self.target_modules,
                "patterns matching linear or conv2d layers of the network",
                f"pick among {sorted({n.rsplit('.', 1)[-1] for n in names})} or full names "
                f"such as {names[0] if names else 'blocks.0.attn.qkv'}",
            )
        net.requires_grad_(False)
        for name in chosen:
            parent, _, child = name.rpartition(".")
            owner = net.get_submodule(parent) if parent else net
            layer = getattr(owner, child)
            adapter = ADAPTERS[type(layer)](layer, self.rank, self.alpha, self.dropout)
            setattr(owner, child, adapter)
        trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        total = sum(p.numel() for p in net.parameters())
        log.info(
            "LoRA: %d layers adapted, %d trainable parameters of %d (%.2f %%)",
            len(chosen), trainable, total, 100 * trainable / total,
        )  # fmt: skip
        return net

    def _matches(self, name: str) -> bool:
        patterns = self.target_modules
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(name, f"*.{p}") for p in patterns)


def merge(net: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` of ``net`` by its merged ``nn.Linear`` (in place)."""
    for name, module in list(net.named_modules()):
        if isinstance(module, LoRALinear | LoRAConv2d):
            parent, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, child, module.merged())
    return net
