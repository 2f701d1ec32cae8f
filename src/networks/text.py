"""Text classifiers over padded token ids: Embedding + (bi)LSTM/GRU, a 1-D CNN over the
embeddings, and a small Transformer encoder; each pools its per-token states (last, mean,
max or attention) into one vector per text and maps it to logits.

Every network takes ``tokens`` (B, T) and ``lengths`` (B,) and never lets a padding position
change a prediction: the recurrent network packs the sequences, the CNN zeroes padded
positions after each convolution (as zero padding of a lone sentence would), the Transformer
masks padded keys, and pooling reads real positions only. So a sentence gets the same logits
alone and in a batch with a longer one (tests/networks/test_text.py).

Each classifier is an ``encoder`` ((tokens, lengths) -> (B, features)) and a ``head``;
``encode`` gives the text's vector, for fusion with other modalities.
"""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from src.errors import ConfigError, UserError
from src.networks.gru import recurrent
from src.networks.transformer import Block

POOLINGS = ("last", "mean", "max", "attention")


def padding_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """(B, T) bool, True at the real (not padded) positions."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


class Pooling(nn.Module):
    """Per-token states (B, T, C) -> one vector per text (B, C), over the real positions only.

    Args:
        how: ``last`` (the state at the last real token), ``mean``, ``max`` or ``attention``
            (a learned score per position, softmax over the real positions).
        width: C, the state width (used by ``attention``).
    """

    def __init__(self, how: str, width: int) -> None:
        super().__init__()
        if how not in POOLINGS:
            raise ConfigError("model.net.pooling", how, "one of " + ", ".join(POOLINGS))
        self.how = how
        self.score = nn.Linear(width, 1) if how == "attention" else None

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(lengths, h.shape[1])[..., None]  # (B, T, 1)
        if self.how == "last":
            index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, h.shape[2])
            return h.gather(1, index).squeeze(1)
        if self.how == "mean":
            return (h * mask).sum(1) / lengths.clamp(min=1)[:, None].to(h.dtype)
        if self.how == "max":
            return h.masked_fill(~mask, float("-inf")).amax(1)
        assert self.score is not None
        weights = self.score(h).masked_fill(~mask, float("-inf")).softmax(1)  # (B, T, 1)
        return (weights * h).sum(1)


class RNNEncoder(nn.Module):
    """Embedding + (bi)LSTM/GRU over packed sequences; ``last`` pools the final hidden states
    (forward and backward directions joined)."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        cell: str,
        pooling: str,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.rnn = recurrent(cell, embedding_dim, hidden_size, num_layers, dropout, bidirectional)
        self.features = hidden_size * (2 if bidirectional else 1)
        self.pool = Pooling(pooling, self.features)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_exporting() or torch.jit.is_tracing():
            raise UserError(
                "the recurrent text encoder packs its padded batch (pack_padded_sequence), "
                "which neither torch.export nor the ONNX exporters can trace: a model with "
                "model.net.encoder of type RNNEncoder (text_lstm, multimodal) does not export. "
                "Fix: export a text_cnn or text_transformer model, or serve the checkpoint "
                "with mode=predict"
            )
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths.clamp(min=1).cpu(), batch_first=True,
            enforce_sorted=False,
        )  # fmt: skip
        out, state = self.rnn(packed)
        if self.pool.how == "last":
            h = state[0] if isinstance(state, tuple) else state  # (layers * dirs, B, H)
            dirs = 2 if self.rnn.bidirectional else 1
            return h[-dirs:].transpose(0, 1).flatten(1)  # (B, dirs * H), last layer
        seq, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return self.pool(seq, lengths)


class CNNEncoder(nn.Module):
    """Embedding + parallel 1-D convolutions of several widths (Kim 2014), ReLU, pooled."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        channels: int,
        kernel_sizes: list[int],
        pooling: str,
    ) -> None:
        super().__init__()
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ConfigError(
                "model.net.kernel_sizes", list(kernel_sizes), "odd widths, e.g. [3, 5]"
            )
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(embedding_dim, channels, k, padding=k // 2) for k in kernel_sizes
        )
        self.features = channels * len(kernel_sizes)
        self.pool = Pooling(pooling, self.features)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(lengths, tokens.shape[1])[:, None, :]  # (B, 1, T)
        x = self.embedding(tokens).transpose(1, 2) * mask  # (B, E, T), zero where padded
        h = torch.cat([torch.relu(conv(x)) for conv in self.convs], dim=1) * mask  # (B, C, T)
        return self.pool(h.transpose(1, 2), lengths)


class TransformerEncoder(nn.Module):
    """Embedding + learned positions + non-causal Transformer blocks (src.networks.transformer)
    with padded keys masked, a final LayerNorm, pooled."""

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        n_embd: int,
        n_head: int,
        n_layer: int,
        pooling: str,
        dropout: float,
    ) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ConfigError("model.net.n_embd", n_embd, f"a multiple of n_head={n_head}")
        self.embedding = nn.Embedding(vocab_size, n_embd, padding_idx=0)
        self.position = nn.Embedding(max_length, n_embd)
        self.blocks = nn.ModuleList(
            Block(n_embd, n_head, dropout, bias=True, causal=False) for _ in range(n_layer)
        )
        self.norm = nn.LayerNorm(n_embd)
        self.drop = nn.Dropout(dropout)
        self.features = n_embd
        self.pool = Pooling(pooling, n_embd)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        if t > self.position.num_embeddings:
            raise ConfigError(
                "model.net.max_length",
                self.position.num_embeddings,
                f"at least the batch's {t} tokens",
                "set it to dataset.max_length",
            )
        mask = padding_mask(lengths, t)  # (B, T)
        x = self.drop(self.embedding(tokens) + self.position(torch.arange(t, device=tokens.device)))
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.pool(self.norm(x), lengths)


class TextClassifier(nn.Module):
    """An encoder's text vector -> dropout -> linear head: (tokens, lengths) -> (B, num_outputs).

    Args:
        encoder: (tokens, lengths) -> (B, encoder.features).
        num_outputs: logits per text.
        dropout: dropout before the head.
    """

    def __init__(self, encoder: nn.Module, num_outputs: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        width = int(encoder.features)  # type: ignore[arg-type]
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_outputs))

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, features): one vector per text."""
        return self.encoder(tokens, lengths)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(tokens, lengths))


def rnn_classifier(
    vocab_size: int,
    num_outputs: int,
    embedding_dim: int = 100,
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = True,
    cell: str = "lstm",
    pooling: str = "last",
    dropout: float = 0.2,
) -> TextClassifier:
    """Embedding + (bi)LSTM/GRU text classifier (``model=text_lstm``)."""
    encoder = RNNEncoder(
        vocab_size, embedding_dim, hidden_size, num_layers, bidirectional, cell, pooling, dropout
    )
    return TextClassifier(encoder, num_outputs, dropout)


def cnn_classifier(
    vocab_size: int,
    num_outputs: int,
    embedding_dim: int = 100,
    channels: int = 100,
    kernel_sizes: tuple[int, ...] = (3, 5),
    pooling: str = "max",
    dropout: float = 0.3,
) -> TextClassifier:
    """Embedding + 1-D CNN text classifier (``model=text_cnn``)."""
    encoder = CNNEncoder(vocab_size, embedding_dim, channels, list(kernel_sizes), pooling)
    return TextClassifier(encoder, num_outputs, dropout)


def transformer_classifier(
    vocab_size: int,
    num_outputs: int,
    max_length: int,
    n_embd: int = 64,
    n_head: int = 4,
    n_layer: int = 2,
    pooling: str = "mean",
    dropout: float = 0.1,
) -> TextClassifier:
    """Small Transformer-encoder text classifier (``model=text_transformer``)."""
    encoder = TransformerEncoder(vocab_size, max_length, n_embd, n_head, n_layer, pooling, dropout)
    return TextClassifier(encoder, num_outputs, dropout)
