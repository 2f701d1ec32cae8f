"""A RUNNING trial whose sweeper is gone is recognised: at once on this machine, else by its
heartbeat after grace_period."""

import subprocess
import sys
import time
from datetime import datetime, timedelta

from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.hydralit_optuna_sweeper._liveness import (
    HEARTBEAT,
    OWNER,
    me,
    orphan_reason,
    owner_is_dead,
)
from tests.conftest import ROOT


def running(system_attrs: dict, started_s_ago: float = 0.0) -> FrozenTrial:
    return FrozenTrial(
        number=3,
        trial_id=3,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.now() - timedelta(seconds=started_s_ago),
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs=system_attrs,
        intermediate_values={},
    )


def ended_process_owner() -> str:
    """The owner token of a sweeper-like process that has since exited."""
    code = "from hydra_plugins.hydralit_optuna_sweeper._liveness import me; print(me())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_an_ended_sweeper_on_this_machine_orphans_its_trial_at_once() -> None:
    owner = ended_process_owner()
    assert owner_is_dead(owner)
    trial = running({OWNER: owner, HEARTBEAT: time.time()})  # heartbeat still fresh
    reason = orphan_reason(trial, grace_period=60)
    pid = owner.split("/")[-2]
    assert reason and reason.startswith(f"orphaned: its sweeper (pid {pid} on ")


def test_a_live_sweeper_keeps_its_trial() -> None:
    assert not owner_is_dead(me())
    assert orphan_reason(running({OWNER: me(), HEARTBEAT: time.time()}), grace_period=60) is None


def test_a_reused_pid_is_not_the_owner() -> None:
    host, namespace, pid, _ = me().rsplit("/", 3)
    assert owner_is_dead(f"{host}/{namespace}/{pid}/1")  # this pid, another start time


def test_another_machine_is_judged_by_its_heartbeat() -> None:
    owner = "elsewhere/1/12345/678"
    fresh = running({OWNER: owner, HEARTBEAT: time.time() - 5})
    assert orphan_reason(fresh, grace_period=60) is None
    old = running({OWNER: owner, HEARTBEAT: time.time() - 90})
    assert (orphan_reason(old, grace_period=60) or "").startswith("stale: no heartbeat for 90 s")


def test_a_trial_never_marked_is_stale_after_grace_period_from_its_start() -> None:
    # a sweeper killed between asking the trial and marking it left neither attribute
    assert orphan_reason(running({}, started_s_ago=5), grace_period=60) is None
    reason = orphan_reason(running({}, started_s_ago=70), grace_period=60)
    assert (reason or "").startswith("stale: no heartbeat for 70 s")
