"""``dataset=interactions*``: user-item interactions split leave-last-out, served as candidates.

Every batch has one shape, ``{"user": (B,), "item": (B, C), "target": (B, C), "exclude": (B, C)}``:
a user and C candidate items, the target being 1 (implicit feedback) or the rating (explicit)
for the positive and 0 for the others.

- Training: each training interaction with ``train_negatives`` negative items (C = 1 + that),
  redrawn every epoch from a generator seeded by ``seed`` and the epoch, so a resumed run draws
  the negatives a run never stopped would have (ranks draw the same and take every W-th row).
- Validation and test (``protocol``): ``sampled`` ranks each user's held-out item among
  ``eval_negatives`` items the user never interacted with (drawn once, seeded; the NCF
  protocol with 99); ``full`` ranks it among all items, ``exclude`` marking the user's other
  interactions (scored -inf by the model).
- Predict: ``val``/``test`` as evaluated in ``full``; ``all``: every user's ranking of every item
  it never interacted with.
"""

from collections.abc import Callable, Iterator

import lightning.pytorch as pl
import numpy as np
import torch

from src.data import interaction_split as split
from src.data.interaction_sources import Interactions
from src.data.loader import Batch, EpochCounter, to_device
from src.errors import ConfigError

PROTOCOLS = ("sampled", "full")
SAMPLINGS = ("uniform", "popularity")
PREDICT_SPLITS = ("val", "test", "all")


class TrainPairs:
    """Each training interaction with ``negatives`` drawn per epoch, shuffled; rank r of W
    takes rows r, r+W, ... of the epoch's order (every rank the same number)."""

    def __init__(
        self, data: Interactions, targets: np.ndarray, negatives: Callable[[int], np.ndarray],
        batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
    ) -> None:  # fmt: skip
        self.data, self.targets, self.negatives = data, targets, negatives
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.sampler = EpochCounter()  # Lightning sets its epoch before each epoch
        self.batch_sampler = None

    def __len__(self) -> int:
        return -(-(len(self.data.user) // self.world_size) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        epoch = self.sampler.epoch
        negatives = self.negatives(epoch)  # (N, K), the same on every rank
        order = np.random.default_rng([self.seed, 0, epoch]).permutation(len(self.data.user))
        order = order[: len(order) // self.world_size * self.world_size]  # even shards
        order = order[self.rank :: self.world_size]
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            items = np.concatenate([self.data.item[rows, None], negatives[rows]], axis=1)
            target = np.zeros(items.shape, np.float32)
            target[:, 0] = self.targets[rows]
            yield {
                "user": torch.from_numpy(self.data.user[rows]),
                "item": torch.from_numpy(items),
                "target": torch.from_numpy(target),
                "exclude": torch.zeros(items.shape, dtype=torch.bool),
            }


class Candidates:
    """Held-out (user, item, target) rows with their candidates: the positive then fixed
    ``negatives`` (U, K), or every item when ``negatives`` is None (then ``exclude`` marks the
    user's ``seen`` items but the positive). Rank r of W takes rows r, r+W, ..."""

    def __init__(
        self, users: np.ndarray, positives: np.ndarray, targets: np.ndarray,
        negatives: np.ndarray | None, seen: list[np.ndarray], num_items: int, batch_size: int,
        rank: int = 0, world_size: int = 1,
    ) -> None:  # fmt: skip
        self.users, self.positives, self.targets = users, positives, targets
        self.negatives, self.seen, self.num_items = negatives, seen, num_items
        self.batch_size = batch_size
        self.rows = np.arange(len(users))[rank::world_size]
        self.sampler = EpochCounter()
        self.batch_sampler = None

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for start in range(0, len(self.rows), self.batch_size):
            yield self._batch(self.rows[start : start + self.batch_size])

    def _batch(self, rows: np.ndarray) -> Batch:
        users, positives, n = self.users[rows], self.positives[rows], len(rows)
        if self.negatives is not None:
            items = np.concatenate([positives[:, None], self.negatives[rows]], axis=1)
            target = np.zeros(items.shape, np.float32)
            target[:, 0] = self.targets[rows]
            exclude = np.zeros(items.shape, bool)
        else:
            items = np.broadcast_to(np.arange(self.num_items), (n, self.num_items))
            target, exclude = self._all_items(rows)
        return {
            "user": torch.from_numpy(users),
            "item": torch.from_numpy(np.ascontiguousarray(items)),
            "target": torch.from_numpy(target),
            "exclude": torch.from_numpy(exclude),
        }

    def _all_items(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, num_items) targets and the user's seen items but the positive, to exclude."""
        target = np.zeros((len(rows), self.num_items), np.float32)
        exclude = np.zeros(target.shape, bool)
        for row, u in enumerate(self.users[rows]):
            exclude[row, self.seen[u]] = True
        held = np.flatnonzero(self.positives[rows] >= 0)  # predicting new items: none held out
        positives = self.positives[rows][held]
        target[held, positives] = self.targets[rows][held]
        exclude[held, positives] = False
        return target, exclude


class InteractionsDataModule(pl.LightningDataModule):
    """Interactions split leave-last-out by timestamp (see the module's docstring).

    Args:
        source: callable returning :class:`~src.data.interaction_sources.Interactions`.
        num_users: users the networks are built for (checked against the data).
        num_items: items the networks are built for (checked against the data).
        feedback: ``implicit`` (targets 1/0, trained with negatives) or ``explicit`` (targets
            are the ratings, trained on the observed ones: ``train_negatives`` 0).
        protocol: ``sampled`` or ``full`` ranking for validation and test.
        eval_negatives: negatives per held-out item under ``sampled`` (NCF: 99).
        train_negatives: negatives per training interaction, redrawn every epoch (NCF: 4).
        negative_sampling: ``uniform`` or ``popularity`` (items drawn in proportion to their
            training count raised to ``popularity_exponent``).
        popularity_exponent: exponent of the counts under ``popularity`` sampling.
        min_user_interactions: users with fewer interactions are left out before splitting
            (0: none; leave-last-out needs 3).
        batch_size: interactions per training batch, users per evaluation batch (per process).
        seed: seed of the negatives and of the shuffling.
        pin_memory: page-locked batches for faster copies to a CUDA device.
        predict_split: ``val``, ``test`` or ``all`` (see the module's docstring).
    """

    def __init__(
        self,
        source: Callable[[], Interactions],
        num_users: int,
        num_items: int,
        feedback: str = "implicit",
        protocol: str = "sampled",
        eval_negatives: int = 99,
        train_negatives: int = 4,
        negative_sampling: str = "uniform",
        popularity_exponent: float = 1.0,
        min_user_interactions: int = 0,
        batch_size: int = 256,
        seed: int = 42,
        pin_memory: bool = False,
        predict_split: str = "test",
    ) -> None:
        super().__init__()
        _check_options(feedback, protocol, negative_sampling, train_negatives, predict_split)
        self.source, self.num_users, self.num_items = source, num_users, num_items
        self.feedback, self.protocol, self.eval_negatives = feedback, protocol, eval_negatives
        self.train_negatives, self.negative_sampling = train_negatives, negative_sampling
        self.popularity_exponent = popularity_exponent
        self.min_user_interactions = min_user_interactions
        self.batch_size, self.seed, self.pin_memory = batch_size, seed, pin_memory
        self.predict_split = predict_split
        self.split: split.Split | None = None
        self.seen: list[np.ndarray] = []  # each user's distinct items, all splits
        self.train_keys = np.zeros(0, np.int64)  # (user, item) of the training split
        self.fixed_negatives: dict[str, np.ndarray] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.split is not None:
            return
        data = self.source()
        self._check_sizes(data)
        if self.min_user_interactions:
            data = split.keep_active_users(data, self.min_user_interactions)
        self.split = split.leave_last_out(data)
        self.seen = split.items_by_user(data)
        self.train_keys = split.interaction_keys(
            self.split.train.user, self.split.train.item, self.num_items
        )
        if self.protocol == "sampled":
            for i, name in enumerate(("val", "test")):
                users = getattr(self.split, name)[0]
                self.fixed_negatives[name] = split.eval_negatives(
                    users, self.seen, self.num_items, self.eval_negatives, [self.seed, 2, i]
                )

    def _check_sizes(self, data: Interactions) -> None:
        for key, built, found in (
            ("num_users", self.num_users, data.num_users),
            ("num_items", self.num_items, data.num_items),
        ):
            if built != found:
                raise ConfigError(
                    f"dataset.{key}", built, f"the data's {found}",
                    f"leave dataset.{key} to its interpolation, or set dataset.{key}={found}",
                )  # fmt: skip

    @property
    def item_counts(self) -> np.ndarray:
        """Training interactions per item, shape (num_items,)."""
        assert self.split is not None  # set in setup
        return np.bincount(self.split.train.item, minlength=self.num_items)

    def _targets(self, ratings: np.ndarray) -> np.ndarray:
        return ratings if self.feedback == "explicit" else np.ones_like(ratings)

    def _negatives(self, epoch: int) -> np.ndarray:
        assert self.split is not None
        weights = None
        if self.negative_sampling == "popularity":
            weights = self.item_counts.astype(np.float64) ** self.popularity_exponent
        return split.train_negatives(
            self.split.train, self.train_keys, self.train_negatives, weights, [self.seed, 1, epoch]
        )

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer else (0, 1)

    def train_dataloader(self) -> TrainPairs:
        assert self.split is not None
        train = self.split.train
        return TrainPairs(
            train, self._targets(train.rating), self._negatives, self.batch_size, self.seed,
            *self._rank_world(),
        )  # fmt: skip

    def _candidates(self, name: str, full: bool) -> Candidates:
        assert self.split is not None
        if name == "all":
            users = np.flatnonzero([len(items) for items in self.seen])
            held = (users, np.full(len(users), -1), np.zeros(len(users), np.float32))
        else:
            held = getattr(self.split, name)
        negatives = None if full else self.fixed_negatives[name]
        return Candidates(
            held[0], held[1], self._targets(held[2]), negatives, self.seen, self.num_items,
            self.batch_size, *self._rank_world(),
        )  # fmt: skip

    def val_dataloader(self) -> Candidates:
        return self._candidates("val", self.protocol == "full")

    def test_dataloader(self) -> Candidates:
        return self._candidates("test", self.protocol == "full")

    def predict_dataloader(self) -> Candidates:
        return self._candidates(self.predict_split, full=True)

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, idx: int) -> Batch:
        return to_device(batch, device, pin=self.pin_memory)


def _check_options(
    feedback: str, protocol: str, sampling: str, train_negatives: int, predict_split: str
) -> None:
    choices = {
        "dataset.feedback": (feedback, ("implicit", "explicit")),
        "dataset.protocol": (protocol, PROTOCOLS),
        "dataset.negative_sampling": (sampling, SAMPLINGS),
        "predict.split": (predict_split, PREDICT_SPLITS),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(key, value, "one of " + ", ".join(allowed))
    if feedback == "explicit" and train_negatives:
        raise ConfigError(
            "dataset.train_negatives", train_negatives, "0 with dataset.feedback=explicit",
            "set dataset.train_negatives=0 (ratings are regressed, there are no negatives)",
        )  # fmt: skip
    if feedback == "implicit" and train_negatives < 1:
        raise ConfigError(
            "dataset.train_negatives", train_negatives, "at least 1 with implicit feedback",
            "set dataset.train_negatives=4 (the NCF paper's)",
        )  # fmt: skip
