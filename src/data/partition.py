"""Training rows split among simulated clients for federated training (``mode=federated``)."""

import numpy as np

from src.errors import ConfigError

SPLITS = ("iid", "dirichlet")


class ClientPartition:
    """Client ``client``'s share of ``clients`` of the training rows (seeded).

    ``iid``: a random equal share. ``dirichlet``: non-IID labels, the common benchmark of
    federated learning: each class's rows are divided among the clients in proportions drawn
    from Dirichlet(``alpha``), so a small ``alpha`` gives each client few classes.

    Args:
        clients: number of clients.
        client: this client's index; None: every row (the server's view).
        split: ``iid`` or ``dirichlet``.
        alpha: Dirichlet concentration (``dirichlet`` only).
        seed: seed of the division.
    """

    def __init__(
        self,
        clients: int,
        client: int | None = None,
        split: str = "dirichlet",
        alpha: float = 0.5,
        seed: int = 0,
    ) -> None:
        if split not in SPLITS:
            raise ConfigError("federated.partition.split", split, "one of " + ", ".join(SPLITS))
        if client is not None and not 0 <= client < clients:
            raise ConfigError("federated.partition.client", client, f"in [0, {clients})")
        self.clients, self.client, self.split = clients, client, split
        self.alpha, self.seed = alpha, seed

    def __call__(self, target: np.ndarray) -> np.ndarray:
        """Row numbers of ``target`` (the training split's labels) this client holds."""
        if self.client is None:
            return np.arange(len(target))
        return self.shares(target)[self.client]

    def shares(self, target: np.ndarray) -> list[np.ndarray]:
        """Every client's row numbers (disjoint, together all rows)."""
        rng = np.random.default_rng(self.seed)
        if self.split == "iid":
            return [np.sort(s) for s in np.array_split(rng.permutation(len(target)), self.clients)]
        shares: list[list[int]] = [[] for _ in range(self.clients)]
        for label in np.unique(target):
            rows = rng.permutation(np.flatnonzero(target == label))
            cuts = np.cumsum(rng.dirichlet([self.alpha] * self.clients))[:-1] * len(rows)
            for share, part in zip(shares, np.split(rows, cuts.astype(int)), strict=True):
                share.extend(part.tolist())
        return [np.sort(np.asarray(s, dtype=np.int64)) for s in shares]
