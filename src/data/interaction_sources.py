"""Sources of user-item interactions: callables returning an :class:`Interactions`.

- :func:`read_interactions`: any CSV/TSV file with user, item and optional rating and
  timestamp columns (names configurable).
- :func:`read_movielens`: MovieLens-100k (``u.data``) or MovieLens-1M (``ratings.dat``) from
  a local folder; offline, one error says what to download from where and where to put it.
- :func:`generated_interactions`: an implicit-feedback set drawn from latent user and item
  factors plus an item popularity skew, built in (tests and the default experiment).

Raw user and item ids become indices ``0..n-1`` in the sorted order of the raw ids, so index
``k`` names the ``k``-th smallest id (MovieLens item 1 is index 0).
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from src.data.table import Table, as_numbers, read_table
from src.errors import ConfigError, DataError

ROLES = ("user", "item", "rating", "timestamp")
MOVIELENS = {
    # variant: (file, separator, download address)
    "ml-100k": ("u.data", "\t", "https://files.grouplens.org/datasets/movielens/ml-100k.zip"),
    "ml-1m": ("ratings.dat", "::", "https://files.grouplens.org/datasets/movielens/ml-1m.zip"),
}


@dataclass
class Interactions:
    """Every interaction, one per position: ``user``/``item`` indices (N,) int64, ``rating``
    (N,) float32 (1 for implicit feedback) and ``timestamp`` (N,) float64 (the row number when
    the data have none); ``num_users``/``num_items`` count the distinct raw ids."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    num_users: int
    num_items: int


def indexed(
    users: np.ndarray, items: np.ndarray, rating: np.ndarray | None, timestamp: np.ndarray | None
) -> Interactions:
    """Raw ids mapped to indices in sorted order; missing ratings are 1, timestamps row order."""
    user_ids, user = np.unique(users, return_inverse=True)
    item_ids, item = np.unique(items, return_inverse=True)
    n = len(user)
    return Interactions(
        user.astype(np.int64),
        item.astype(np.int64),
        np.ones(n, np.float32) if rating is None else rating.astype(np.float32),
        np.arange(n, dtype=np.float64) if timestamp is None else timestamp.astype(np.float64),
        len(user_ids),
        len(item_ids),
    )


def read_interactions(
    path: str,
    user: str = "user",
    item: str = "item",
    rating: str | None = None,
    timestamp: str | None = None,
    separator: str = ",",
) -> Interactions:
    """A CSV/TSV file with a header row, its columns named by ``user``, ``item`` and the
    optional ``rating`` and ``timestamp`` (null: implicit feedback, file order)."""
    return _read_columns(path, user, item, rating, timestamp, separator, _mtime(path))


def _mtime(path: str) -> int:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError("dataset.source.path", path, "an existing CSV/TSV file of interactions")
    return file.stat().st_mtime_ns


@lru_cache(maxsize=4)  # the resolvers of num_users/num_items read it too (src/data/resolvers)
def _read_columns(
    path: str,
    user: str,
    item: str,
    rating: str | None,
    timestamp: str | None,
    separator: str,
    mtime_ns: int,
) -> Interactions:
    table = read_table(path, separator=separator)
    named = dict(zip(ROLES, (user, item, rating, timestamp), strict=True))
    for role, column in named.items():
        if column is not None and column not in table.columns:
            raise ConfigError(
                f"dataset.source.{role}",
                column,
                f"a column of {path}: one of {table.names}",
                f"set dataset.source.{role}=<the {role} column>"
                + ("" if role in ("user", "item") else f" (or null if it has no {role})"),
            )
    return indexed(
        _ids(table.columns[user]),
        _ids(table.columns[item]),
        None if rating is None else _numbers(table, rating, "rating"),
        None if timestamp is None else _numbers(table, timestamp, "timestamp"),
    )


def _ids(cells: np.ndarray) -> np.ndarray:
    """Numeric ids as numbers (so they sort as numbers), any other id as text."""
    numbers = as_numbers(cells)
    return cells.astype(str) if numbers is None or np.isnan(numbers).any() else numbers


def _numbers(table: Table, column: str, role: str) -> np.ndarray:
    numbers = as_numbers(table.columns[column])
    if numbers is None or np.isnan(numbers).any():
        raise DataError(
            f"{table.path}: column {column!r} (dataset.source.{role}) holds a cell that is "
            f"missing or not a number. Fix: clean the file, or set dataset.source.{role}=null"
        )
    return numbers


def read_movielens(path: str, variant: str = "ml-100k") -> Interactions:
    """MovieLens ratings (user, item, rating 1-5, timestamp) from ``<path>/u.data`` (ml-100k,
    tab-separated) or ``<path>/ratings.dat`` (ml-1m, ``::``-separated)."""
    if variant not in MOVIELENS:
        raise ConfigError("dataset.source.variant", variant, "one of " + ", ".join(MOVIELENS))
    name, separator, url = MOVIELENS[variant]
    file = Path(path).expanduser() / name
    if not file.is_file():
        raise DataError(
            f"dataset.source.path={path!r}: no {name} there. MovieLens cannot be downloaded "
            f"by this framework. Fix: download {url}, unzip it and set dataset.source.path to "
            f"the folder that holds {name} (e.g. data/{variant})"
        )
    return _read_movielens(str(file), separator, file.stat().st_mtime_ns)


@lru_cache(maxsize=2)
def _read_movielens(file: str, separator: str, mtime_ns: int) -> Interactions:
    lines = Path(file).read_text(encoding="latin-1").split("\n")
    rows = [line.split(separator) for line in lines if line.strip()]
    try:
        table = np.array(rows, dtype=np.int64)
    except ValueError:  # ragged rows or a cell that is not an integer
        table = np.empty((0, 0), dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 4:
        raise DataError(
            f"{file}: expected 4 integer columns (user, item, rating, timestamp) on every line. "
            "Fix: use the file as distributed by GroupLens"
        )
    user, item, rating, timestamp = table.T
    return indexed(user, item, rating, timestamp)


def generated_interactions(
    num_users: int = 1000,
    num_items: int = 500,
    per_user: int = 20,
    dim: int = 8,
    sharpness: float = 3.0,
    popularity: float = 1.0,
    seed: int = 0,
) -> Interactions:
    """Implicit feedback drawn from a latent model: each user picks ``per_user`` distinct items
    with probability proportional to ``exp(sharpness * <u, v> + popularity * log_pop(item))``.

    Args:
        num_users: users, each with ``per_user`` interactions at random times.
        num_items: items.
        per_user: interactions per user (3 at least: leave-last-out holds out 2).
        dim: latent dimensions; user and item factors are unit Gaussian vectors / sqrt(dim).
        sharpness: weight of the latent affinity (0: choices follow popularity alone).
        popularity: Zipf exponent of the popularity skew (item of rank r weighs r^-popularity).
        seed: seed of everything drawn.
    """
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(num_users, dim)) / np.sqrt(dim)
    items = rng.normal(size=(num_items, dim)) / np.sqrt(dim)
    log_pop = -popularity * np.log(rng.permutation(num_items) + 1.0)  # (I,)
    logits = sharpness * np.sqrt(dim) * users @ items.T + log_pop  # (U, I)
    # Gumbel top-k: per_user draws without replacement from softmax(logits)
    keys = logits + rng.gumbel(size=logits.shape)
    chosen = np.argsort(-keys, axis=1)[:, :per_user]  # (U, per_user)
    user = np.repeat(np.arange(num_users), per_user)
    return Interactions(
        user.astype(np.int64),
        chosen.reshape(-1).astype(np.int64),
        np.ones(len(user), np.float32),
        rng.random(len(user)),
        num_users,
        num_items,
    )
