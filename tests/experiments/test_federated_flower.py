"""mode=federated federated.engine=flower: Flower's simulation runs the rounds (skips without
the federated extra), private clients keep their ε across rounds, and a missing extra is one
error naming it."""

import sys
from pathlib import Path

import pytest

from src.errors import UserError
from src.experiments import run
from tests.conftest import Compose
from tests.experiments.test_federated import PRIVATE_TINY, run_two_rounds


@pytest.mark.slow  # Ray starts a local instance and an actor: ~40 s on a quiet 2-core machine
def test_flower_rounds_match_the_own_loops_privacy(compose_cfg: Compose, tmp_path: Path) -> None:
    pytest.importorskip("flwr", reason="the federated extra: pip install -e '.[federated]'")
    # one client actor at a time: Ray starts (and imports torch in) one worker, not two
    flower = compose_cfg(*PRIVATE_TINY, "federated.engine=flower", "federated.cpus_per_client=2")
    own = compose_cfg(*PRIVATE_TINY, "federated.engine=own", run_dir=tmp_path / "own")
    saved = run_two_rounds(flower)
    # each client's accountant travelled between rounds in its node state: the same ε as the
    # own loop's clients, which keep theirs in memory (one round's steps would give less)
    own_saved = run_two_rounds(own)
    assert saved["train/epsilon"] == pytest.approx(own_saved["train/epsilon"], rel=1e-6)
    assert saved["train/epsilon"] > 0


def test_flower_engine_without_the_extra_names_it(
    compose_cfg: Compose, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "flwr", None)  # import flwr raises ImportError
    cfg = compose_cfg("mode=federated", "federated.engine=flower", "federated.rounds=1")
    with pytest.raises(UserError, match=r"install it with pip install -e '\.\[federated\]'"):
        run(cfg)
