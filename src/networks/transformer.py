"""One Transformer block (pre-LayerNorm self-attention + MLP), shared by every Transformer here.

Attention runs through ``torch.nn.functional.scaled_dot_product_attention`` (flash or
memory-efficient kernels where the device has them). Causal or not is a constructor switch,
so a decoder (``src.networks.gpt``) and an encoder use the same code. Positions are either
added to the input by the caller (learned) or rotated into queries and keys here (rotary).
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from src.errors import ConfigError


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer (generation only)."""

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None  # (B, H, T_past, D)
        self.v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's (B, H, T, D) keys and values; return all of them."""
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        return self.k, self.v


class Rotary(nn.Module):
    """Rotary position embedding (RoPE): rotates channel pairs of q and k by position angles."""

    def __init__(self, head_dim: int, max_positions: int, base: float = 10000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
        angles = torch.outer(torch.arange(max_positions).float(), inv_freq)  # (P, D/2)
        self.cos: torch.Tensor
        self.sin: torch.Tensor
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """x: (B, H, T, D) at positions start..start+T-1."""
        t = x.shape[2]
        cos = self.cos[start : start + t].to(x.dtype)  # (T, D/2)
        sin = self.sin[start : start + t].to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
        return rotated.flatten(-2)


class SelfAttention(nn.Module):
    """Multi-head self-attention; ``causal`` lets each position see only those before it.

    Args:
        n_embd: model width (a multiple of ``n_head``; checked by the network).
        n_head: attention heads.
        dropout: dropout of the attention weights and of the output projection.
        bias: biases in the projections.
        causal: mask future positions (decoder) or not (encoder).
        rotary: a :class:`Rotary` shared by the layers, or None for positions added outside.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = False,
        causal: bool = True,
        rotary: Rotary | None = None,
    ) -> None:
        super().__init__()
        self.n_head, self.causal, self.dropout, self.rotary = n_head, causal, dropout, rotary
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``mask``: (B, T) bool, False at padded positions, which no query attends to
        (encoders over padded batches; not with ``cache``)."""
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        past = cache.length if cache is not None else 0
        if self.rotary is not None:  # (B, H, T, D) rotated by absolute position
            q, k = self.rotary(q, past), self.rotary(k, past)
        if cache is not None:
            k, v = cache.extend(k, v)  # (B, H, past + T, D)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=self._mask(t, past, x.device) if mask is None else mask[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=self.causal and past == 0 and t > 1 and mask is None,
        )
        y = y.transpose(1, 2).reshape(b, t, c)  # heads side by side again: (B, T, C)
        return self.resid_dropout(self.proj(y))

    def _mask(self, t: int, past: int, device: torch.device) -> torch.Tensor | None:
        """Causal mask of T new queries over past + T keys (only when both are > 0 and T > 1)."""
        if not self.causal or past == 0 or t == 1:
            return None  # is_causal covers past == 0; one new query sees every key
        return torch.ones(t, past + t, dtype=torch.bool, device=device).tril(diagonal=past)


class MLP(nn.Module):
    """Position-wise feed-forward: C -> 4C -> GELU -> C."""

    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm Transformer block: x + attn(ln(x)), then x + mlp(ln(x)).

    The unit that FSDP wraps and activation checkpointing recomputes.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = False,
        causal: bool = True,
        rotary: Rotary | None = None,
    ) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = SelfAttention(n_embd, n_head, dropout, bias, causal, rotary)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, mask)
        return x + self.mlp(self.ln_2(x))


def module_classes(names: Sequence[str]) -> set[type[nn.Module]]:
    """The ``nn.Module`` classes named by import path, e.g. FSDP's wrap units:
    ``hardware.strategy.auto_wrap_policy`` (each Block sharded and gathered on its own)."""
    from hydra.utils import get_class

    classes = {get_class(name) for name in names}
    wrong = sorted(c.__name__ for c in classes if not issubclass(c, nn.Module))
    if wrong:
        raise ConfigError(
            "hardware.strategy.auto_wrap_policy.names",
            list(names),
            "import paths of nn.Module classes",
            f"drop {', '.join(wrong)}; e.g. src.networks.transformer.Block",
        )
    return classes
