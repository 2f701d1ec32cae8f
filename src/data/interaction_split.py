"""Leave-last-out splitting and negative sampling over user-item interactions (numpy only).

The protocol of the NCF paper (He et al. 2017): each user's last interaction by timestamp is
the test item, the one before it the validation item, the rest are for training. Evaluation
ranks the held-out item among 99 items the user never interacted with (``sampled``), or
among every item but the user's other interactions (``full``).
"""

from dataclasses import dataclass

import numpy as np

from src.data.interaction_sources import Interactions
from src.errors import DataError

HELD_OUT = 2  # the validation and the test item of each user


@dataclass
class Split:
    """Leave-last-out parts: training rows, and one held-out (user, item, rating) per user."""

    train: Interactions
    val: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]


def keep_active_users(data: Interactions, min_interactions: int) -> Interactions:
    """The interactions of users with at least ``min_interactions`` (indices unchanged)."""
    counts = np.bincount(data.user, minlength=data.num_users)
    keep = counts[data.user] >= min_interactions
    return _rows(data, keep)


def _rows(data: Interactions, rows: np.ndarray) -> Interactions:
    return Interactions(
        data.user[rows], data.item[rows], data.rating[rows], data.timestamp[rows],
        data.num_users, data.num_items,
    )  # fmt: skip


def leave_last_out(data: Interactions) -> Split:
    """Each user's last interaction (by timestamp, then file order) for test, the one before
    for validation; every user needs one more to train on."""
    counts = np.bincount(data.user, minlength=data.num_users)
    short = np.flatnonzero((counts > 0) & (counts <= HELD_OUT))
    if len(short):
        raise DataError(
            f"leave-last-out: user index {short[0]} has {counts[short[0]]} interaction(s) "
            f"({len(short)} user(s) have fewer than {HELD_OUT + 1}); its last is held out for "
            "test and the one before for validation, which leaves none to train on. Fix: set "
            f"dataset.min_user_interactions={HELD_OUT + 1} to leave such users out"
        )
    order = np.lexsort((np.arange(len(data.user)), data.timestamp, data.user))
    by_user = _rows(data, order)
    last = np.r_[by_user.user[1:] != by_user.user[:-1], True]  # (N,) each user's last row
    before_last = np.r_[last[1:], False]
    train = ~(last | before_last)

    def held(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return by_user.user[rows], by_user.item[rows], by_user.rating[rows]

    return Split(_rows(by_user, train), held(before_last), held(last))


def interaction_keys(user: np.ndarray, item: np.ndarray, num_items: int) -> np.ndarray:
    """Sorted unique ``user * num_items + item``: membership tests by binary search."""
    return np.unique(user.astype(np.int64) * num_items + item)


def contains(keys: np.ndarray, user: np.ndarray, item: np.ndarray, num_items: int) -> np.ndarray:
    """Whether each (user, item) is among ``keys`` (same shape as ``item``)."""
    query = user.astype(np.int64) * num_items + item
    at = np.searchsorted(keys, query).clip(max=len(keys) - 1)
    return keys[at] == query


def items_by_user(data: Interactions) -> list[np.ndarray]:
    """Each user's distinct items, sorted."""
    keys = interaction_keys(data.user, data.item, data.num_items)
    users, items = np.divmod(keys, data.num_items)
    bounds = np.searchsorted(users, np.arange(data.num_users + 1))
    return [items[bounds[u] : bounds[u + 1]] for u in range(data.num_users)]


def eval_negatives(
    users: np.ndarray, seen: list[np.ndarray], num_items: int, count: int, seed: list[int]
) -> np.ndarray:
    """(U, count) distinct items per user that the user never interacted with (seeded)."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(users), count), np.int64)
    for row, u in enumerate(users):
        unseen = np.setdiff1d(np.arange(num_items), seen[u], assume_unique=True)
        if len(unseen) < count:
            raise DataError(
                f"dataset.eval_negatives={count}: user index {u} has only {len(unseen)} items "
                "it never interacted with. Fix: lower dataset.eval_negatives, or use "
                "dataset.protocol=full"
            )
        out[row] = rng.choice(unseen, count, replace=False)
    return out


def train_negatives(
    train: Interactions,
    keys: np.ndarray,
    count: int,
    weights: np.ndarray | None,
    seed: list[int],
) -> np.ndarray:
    """(N, count) negative items per training row, drawn uniformly (``weights`` None) or in
    proportion to ``weights``; draws that are the user's training items are redrawn (up to 10
    rounds, after which the rare leftovers stay)."""
    rng = np.random.default_rng(seed)
    n, items = len(train.user), train.num_items
    p = None if weights is None else weights / weights.sum()
    drawn = rng.choice(items, size=(n, count), p=p)
    users = np.broadcast_to(train.user[:, None], drawn.shape)
    for _ in range(10):
        clash = contains(keys, users, drawn, items)
        if not clash.any():
            break
        drawn[clash] = rng.choice(items, size=int(clash.sum()), p=p)
    return drawn
