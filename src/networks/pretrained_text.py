"""A pretrained Hugging Face encoder (e.g. all-MiniLM-L6-v2) with a classification head,
fine-tuned end to end on the same ``tokens``/``lengths`` batches as the networks in
``src.networks.text``.

The encoder is read offline from a local directory (``model.net.path``; the ``text`` extra's
MiniLM package by default) through ``transformers.AutoModel``; its token ids come from the
tokenizer of the same directory (``dataset.tokenizer``, :class:`~src.data.vocabulary.
PretrainedTokenizer`). Padded positions are masked in attention and in the pooling.
"""

import torch
from torch import nn

from src.data.vocabulary import load_auto
from src.networks.text import Pooling, padding_mask


class PretrainedTextClassifier(nn.Module):
    """(tokens, lengths) -> pretrained encoder -> pooled (B, hidden) -> dropout -> linear.

    Args:
        path: local directory of a Hugging Face model (config.json and weights).
        num_outputs: logits per text.
        pooling: ``mean`` (as sentence-transformers pools MiniLM), ``max``, ``attention`` or
            ``last``.
        dropout: dropout before the head.
    """

    def __init__(
        self, path: str, num_outputs: int, pooling: str = "mean", dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.backbone = load_auto("AutoModel", path, "model.net.path")
        self.features = int(self.backbone.config.hidden_size)
        self.pool = Pooling(pooling, self.features)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.features, num_outputs))

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, hidden): one vector per text."""
        mask = padding_mask(lengths, tokens.shape[1])
        states = self.backbone(input_ids=tokens, attention_mask=mask.long()).last_hidden_state
        return self.pool(states, lengths)  # (B, T, hidden) -> (B, hidden)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(tokens, lengths))
