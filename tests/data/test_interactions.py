"""Interaction sources (CSV/TSV, MovieLens formats, generated), leave-last-out and negatives."""

from pathlib import Path

import numpy as np
import pytest

from src.data import interaction_split as split
from src.data.interaction_sources import (
    Interactions,
    generated_interactions,
    read_interactions,
    read_movielens,
)
from src.data.interactions import InteractionsDataModule
from src.errors import ConfigError, DataError
from tests.data.fakes import interaction_rows, write_csv, write_movielens

# ml-100k's u.data and ml-1m's ratings.dat as GroupLens ships them (their first lines)
U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n"
RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n"


def tiny(user: list[int], item: list[int], timestamp: list[float]) -> Interactions:
    return Interactions(
        np.array(user), np.array(item), np.ones(len(user), np.float32),
        np.array(timestamp, float), max(user) + 1, max(item) + 1,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variant", "name", "text"),
    [("ml-100k", "u.data", U_DATA), ("ml-1m", "ratings.dat", RATINGS_DAT)],
)
def test_movielens_files_are_read_in_their_format(
    tmp_path: Path, variant: str, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text)
    data = read_movielens(str(tmp_path), variant)
    assert (data.num_users, data.num_items) == (2, 3)
    # ids become indices in sorted order: users 186 -> 0, 196 -> 1; items 661, 1193 -> 0, 1
    first = {"ml-100k": (1, 0, 3.0, 881250949), "ml-1m": (0, 1, 5.0, 978300760)}[variant]
    assert (data.user[0], data.item[0], data.rating[0], data.timestamp[0]) == first


def test_movielens_round_trips_the_fake_writer(tmp_path: Path) -> None:
    rows = interaction_rows(users=5, per_user=4)
    data = read_movielens(str(write_movielens(tmp_path / "ml", "ml-100k", rows)), "ml-100k")
    assert len(data.user) == 20 and data.num_users == 5
    assert data.rating.tolist() == [float(r[2]) for r in rows]


def test_missing_movielens_says_what_to_download_and_where(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no ratings\.dat there") as e:
        read_movielens(str(tmp_path / "ml-1m"), "ml-1m")
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in str(e.value)
    assert "set dataset.source.path to the folder that holds ratings.dat" in str(e.value)


def test_a_tsv_with_other_column_names_is_read(tmp_path: Path) -> None:
    path = tmp_path / "clicks.tsv"
    path.write_text("who\twhat\twhen\nb\tx\t2\na\ty\t1\nb\ty\t3\n")
    data = read_interactions(str(path), user="who", item="what", timestamp="when", separator="\t")
    assert data.user.tolist() == [1, 0, 1] and data.item.tolist() == [0, 1, 1]
    assert data.rating.tolist() == [1.0] * 3 and data.timestamp.tolist() == [2, 1, 3]


def test_a_missing_column_is_named_with_the_columns_there(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "i.csv", ["user", "item", "time"], [[1, 2, 3]])
    with pytest.raises(ConfigError) as e:
        read_interactions(str(path), timestamp="timestamp")
    message = str(e.value)
    assert message.startswith("dataset.source.timestamp='timestamp': expected a column of")
    assert "['user', 'item', 'time']" in message and "Fix: set dataset.source.timestamp=" in message


def test_leave_last_out_holds_out_the_last_two_by_timestamp() -> None:
    # user 0's items by time: 3 (t=1), 1 (t=2), 2 (t=5), 0 (t=9); rows are out of order
    data = tiny([0, 0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 4, 0, 1], [9, 2, 5, 1, 1, 2, 3])
    parts = split.leave_last_out(data)
    assert parts.test[1].tolist() == [0, 1] and parts.val[1].tolist() == [2, 0]
    assert sorted(zip(parts.train.user.tolist(), parts.train.item.tolist(), strict=True)) == [
        (0, 1), (0, 3), (1, 4),
    ]  # fmt: skip


def test_a_user_with_a_single_interaction_is_one_clear_error() -> None:
    data = tiny([0, 0, 0, 1], [0, 1, 2, 0], [1, 2, 3, 1])
    with pytest.raises(DataError, match="user index 1 has 1 interaction") as e:
        split.leave_last_out(data)
    assert "Fix: set dataset.min_user_interactions=3" in str(e.value)
    kept = split.leave_last_out(split.keep_active_users(data, 3))
    assert kept.test[0].tolist() == [0]


def test_eval_negatives_are_distinct_items_the_user_never_saw() -> None:
    data = generated_interactions(num_users=30, num_items=150, per_user=10)
    seen = split.items_by_user(data)
    negatives = split.eval_negatives(np.arange(30), seen, 150, 99, seed=[0])
    assert negatives.shape == (30, 99)
    for u in range(30):
        assert len(set(negatives[u])) == 99 and not set(negatives[u]) & set(seen[u])


def test_training_negatives_avoid_training_items_and_follow_popularity() -> None:
    data = generated_interactions(num_users=200, num_items=100, per_user=10, popularity=1.5)
    keys = split.interaction_keys(data.user, data.item, data.num_items)
    uniform = split.train_negatives(data, keys, 4, None, seed=[0])
    assert not split.contains(keys, np.repeat(data.user[:, None], 4, 1), uniform, 100).any()
    counts = np.bincount(data.item, minlength=100).astype(float)
    popular = split.train_negatives(data, keys, 4, counts, seed=[0])
    top = np.argsort(-counts)[:10]  # the 10 most popular items
    assert np.isin(popular, top).mean() > 2 * np.isin(uniform, top).mean()


def datamodule(**options: object) -> InteractionsDataModule:
    data = generated_interactions(num_users=40, num_items=60, per_user=6)
    options = {"eval_negatives": 20} | options
    dm = InteractionsDataModule(lambda: data, 40, 60, batch_size=16, **options)  # type: ignore[arg-type]
    dm.setup("fit")
    return dm


def test_training_batches_are_the_same_after_a_resume_and_new_each_epoch() -> None:
    def epoch(e: int) -> list:
        loader = datamodule().train_dataloader()
        loader.sampler.set_epoch(e)
        return [b["item"] for b in loader]

    first, again, second = epoch(1), epoch(1), epoch(2)
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    assert not all((a == b).all() for a, b in zip(first, second, strict=True))
    batch = first[0]
    assert batch.shape == (16, 5)  # the positive and 4 negatives


def test_full_ranking_excludes_the_users_other_items_only() -> None:
    dm = datamodule(protocol="full")
    batch = next(iter(dm.test_dataloader()))
    user, target, exclude = batch["user"][0], batch["target"][0], batch["exclude"][0]
    positive = int(target.argmax())
    assert batch["item"].shape == (16, 60) and target.sum() == 1 and not exclude[positive]
    assert set(exclude.nonzero().flatten().tolist()) == set(dm.seen[user].tolist()) - {positive}


def test_sizes_that_disagree_with_the_data_are_named() -> None:
    data = generated_interactions(num_users=10, num_items=20, per_user=5)
    dm = InteractionsDataModule(lambda: data, 10, 25)
    with pytest.raises(ConfigError, match=r"dataset.num_items=25: expected the data's 20"):
        dm.setup("fit")


def test_explicit_feedback_with_negatives_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.train_negatives=4: expected 0 with"):
        InteractionsDataModule(lambda: None, 1, 1, feedback="explicit")  # type: ignore[arg-type,return-value]
