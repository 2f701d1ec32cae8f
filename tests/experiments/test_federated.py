"""mode=federated: the clients' shares of the rows, weighted averaging, and a private
federated run end to end."""

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import DictConfig

from src.config.validate import validate
from src.data.partition import ClientPartition
from src.errors import ConfigError
from src.experiments import run
from src.experiments.federated import average
from tests.conftest import Compose

LABELS = np.repeat(np.arange(10), 100)


@pytest.mark.parametrize("split", ["iid", "dirichlet"])
def test_clients_hold_disjoint_shares_of_every_row(split: str) -> None:
    shares = ClientPartition(10, split=split, alpha=0.3, seed=1).shares(LABELS)
    rows = np.concatenate(shares)
    assert len(rows) == len(LABELS) and len(np.unique(rows)) == len(LABELS)
    assert np.array_equal(ClientPartition(10, 3, split, 0.3, seed=1)(LABELS), shares[3])
    classes = [len(np.unique(LABELS[s])) for s in shares]
    if split == "iid":
        assert {len(s) for s in shares} == {100} and min(classes) >= 9
    else:  # non-IID: most clients miss classes or hold a few of them mostly
        top = [np.bincount(LABELS[s], minlength=10).max() / max(len(s), 1) for s in shares]
        assert np.median(top) > 0.3


def test_average_weights_clients_by_rows() -> None:
    a = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(1)}
    b = {"w": torch.tensor([4.0, 0.0]), "n": torch.tensor(7)}
    avg = average([a, b], [1, 3])
    assert torch.allclose(avg["w"], torch.tensor([3.0, 1.0])) and avg["n"].item() == 7


# two private clients, two rounds of two batches each
PRIVATE_TINY = [
    "mode=federated",
    "federated.rounds=2",
    "federated.partition.clients=2",
    "trainer.limit_train_batches=2",
    "privacy=dp",
    "privacy.target_epsilon=null",
    "privacy.noise_multiplier=1.0",
]


def run_two_rounds(cfg: DictConfig) -> dict[str, Any]:
    """Runs ``cfg`` (two rounds), checks the rounds file and the returned value, returns
    metrics.json."""
    value = run(cfg)
    out = Path(cfg.paths.output_dir)
    saved: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    with (out / "federated_rounds.csv").open() as f:
        rounds = list(csv.DictReader(f))
    assert [r["round"] for r in rounds] == ["1", "2"] and "val/acc" in rounds[0]
    assert value == pytest.approx(saved["val/acc"]) and 0 <= saved["test/acc"] <= 1
    assert saved["rounds"] == 2
    return saved


def test_private_federated_run_writes_rounds_and_epsilon(compose_cfg: Compose) -> None:
    assert run_two_rounds(compose_cfg(*PRIVATE_TINY))["train/epsilon"] > 0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["experiment=lm_stdlib_char"], r"mode='federated': expected a dataset that splits"),
        (["federated.partition.clients=1"], r"federated\.partition\.clients=1: expected an int"),
        (["federated.engine=ray"], r"federated\.engine='ray': expected one of own, flower"),
    ],
)
def test_bad_federated_settings(compose_cfg: Compose, overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        validate(compose_cfg("mode=federated", *overrides))


def test_federated_privacy_needs_a_fixed_noise(compose_cfg: Compose) -> None:
    cfg = compose_cfg("mode=federated", "privacy=dp", "federated.rounds=1")
    with pytest.raises(ConfigError, match=r"privacy\.target_epsilon=3\.0: expected null in mode"):
        run(cfg)
