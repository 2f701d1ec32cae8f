"""Decoder-only Transformer language model (GPT), after nanoGPT's ``model.py``."""

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from src.errors import ConfigError
from src.networks.transformer import Block, KVCache, Rotary

POSITIONS = ("learned", "rotary")


class GPT(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab_size).

    Pre-LayerNorm blocks with causal self-attention, a final LayerNorm, and an output layer
    that shares its weight with the token embedding (weight tying).

    Args:
        vocab_size: number of token ids (the tokenizer's vocabulary).
        block_size: longest context the model reads (positions it knows).
        n_layer: Transformer blocks.
        n_head: attention heads per block.
        n_embd: width; a multiple of ``n_head``.
        dropout: dropout on embeddings, attention weights and residual branches.
        bias: biases in linear layers and LayerNorms (nanoGPT: false is a little better).
        positions: ``learned`` (an embedding per position) or ``rotary`` (RoPE in attention).
        activation_checkpointing: recompute each block's activations in the backward pass
            instead of keeping them (less memory, ~30 % more compute).
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
        bias: bool = False,
        positions: str = "learned",
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        _check(n_embd, n_head, positions)
        self.block_size, self.activation_checkpointing = block_size, activation_checkpointing
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd) if positions == "learned" else None
        rotary = Rotary(n_embd // n_head, block_size) if positions == "rotary" else None
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(n_embd, n_head, dropout, bias, causal=True, rotary=rotary) for _ in range(n_layer)
        )
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one (V, C) matrix
        self._init_weights(n_layer)

    def _init_weights(self, n_layer: int) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for name, p in self.named_parameters():  # residual projections: GPT-2's scaled init
            if name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))

    def new_cache(self) -> list[KVCache]:
        """An empty key/value cache, one per block, for :meth:`forward` during generation."""
        return [KVCache() for _ in self.blocks]

    def forward(self, tokens: torch.Tensor, cache: list[KVCache] | None = None) -> torch.Tensor:
        """Logits (B, T, V) of ``tokens`` (B, T); with ``cache``, they follow its past tokens."""
        past = cache[0].length if cache else 0
        t = tokens.shape[1]
        if past + t > self.block_size:
            raise ValueError(f"{past + t} positions exceed block_size={self.block_size}")
        x = self.wte(tokens)  # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(past, past + t, device=tokens.device))
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            if cache is not None:
                x = block(x, cache[i])
            elif self.activation_checkpointing and self.training:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.lm_head(self.ln_f(x))


def _check(n_embd: int, n_head: int, positions: str) -> None:
    if n_embd % n_head:
        raise ConfigError(
            "model.net.n_embd",
            n_embd,
            f"a multiple of model.net.n_head={n_head} (each head gets n_embd / n_head channels)",
            f"set model.net.n_embd={n_head * max(1, round(n_embd / n_head))} or change n_head",
        )
    if positions not in POSITIONS:
        raise ConfigError("model.net.positions", positions, "one of " + ", ".join(POSITIONS))
    if positions == "rotary" and (n_embd // n_head) % 2:
        raise ConfigError(
            "model.net.n_embd",
            n_embd,
            "an even number of channels per head (n_embd / n_head) with rotary positions",
            "pick n_embd and n_head so that n_embd / n_head is even",
        )
