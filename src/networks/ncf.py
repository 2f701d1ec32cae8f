"""Neural collaborative filtering (He et al. 2017): GMF, MLP and NeuMF, and a popularity
baseline. Each maps ``user`` (B,) and candidate ``item`` (B, C) indices to scores (B, C):
logits for implicit feedback, predicted ratings for explicit."""

from collections.abc import Sequence

import torch
from torch import nn


def _embedding(count: int, dim: int) -> nn.Embedding:
    table = nn.Embedding(count, dim)
    nn.init.normal_(table.weight, std=0.01)  # the NCF paper's initialisation
    return table


class GMF(nn.Module):
    """Generalised matrix factorisation: a learned weighting of the element-wise product of
    the user's and the item's factors (plain MF when the weights are all one).

    Args:
        num_users: user embeddings.
        num_items: item embeddings.
        dim: latent factors (the paper's "predictive factors").
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 8) -> None:
        super().__init__()
        self.users, self.items = _embedding(num_users, dim), _embedding(num_items, dim)
        self.out = nn.Linear(dim, 1)

    def features(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return self.users(user)[:, None] * self.items(item)  # (B, C, dim)

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(user, item)).squeeze(-1)  # (B, C)


class MLP(nn.Module):
    """A ReLU tower over the concatenated user and item embeddings.

    Args:
        num_users: user embeddings.
        num_items: item embeddings.
        layers: widths of the tower; the first is the concatenation (half user, half item).
        dropout: dropout after each hidden layer.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        layers: Sequence[int] = (64, 32, 16, 8),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        half = layers[0] // 2
        self.users, self.items = _embedding(num_users, half), _embedding(num_items, half)
        tower: list[nn.Module] = []
        for width_in, width_out in zip([2 * half, *layers[1:]], layers[1:], strict=False):
            tower += [nn.Linear(width_in, width_out), nn.ReLU(), nn.Dropout(dropout)]
        self.tower = nn.Sequential(*tower)
        self.width = layers[-1] if len(layers) > 1 else 2 * half
        self.out = nn.Linear(self.width, 1)

    def features(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        items = self.items(item)  # (B, C, half)
        users = self.users(user)[:, None].expand_as(items)
        return self.tower(torch.cat([users, items], dim=-1))  # (B, C, layers[-1])

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(user, item)).squeeze(-1)  # (B, C)


class NeuMF(nn.Module):
    """GMF and MLP with their own embeddings, their last features concatenated into one
    output layer (trained jointly from scratch; the paper's GMF/MLP pre-training is not used).

    Args:
        num_users: user embeddings.
        num_items: item embeddings.
        dim: GMF's latent factors.
        layers: MLP's tower widths.
        dropout: dropout in the MLP tower.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        dim: int = 8,
        layers: Sequence[int] = (64, 32, 16, 8),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.gmf = GMF(num_users, num_items, dim)
        self.mlp = MLP(num_users, num_items, layers, dropout)
        del self.gmf.out, self.mlp.out  # one output layer over both
        self.out = nn.Linear(dim + self.mlp.width, 1)

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        both = torch.cat([self.gmf.features(user, item), self.mlp.features(user, item)], dim=-1)
        return self.out(both).squeeze(-1)  # (B, C)


class Popularity(nn.Module):
    """The baseline: one learned score per item, the same for every user. Trained like the
    others (logistic loss against sampled negatives), it learns how popular each item is.

    Args:
        num_items: items.
    """

    def __init__(self, num_items: int) -> None:
        super().__init__()
        self.score = nn.Embedding(num_items, 1)
        nn.init.zeros_(self.score.weight)

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return self.score(item).squeeze(-1)  # (B, C): the user is not read
