"""Several sweeper processes share one study: exactly n_trials trials end, none lost or doubled."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.sweep.helpers import app_cmd, counted, env, param_sets, trials

POSTGRES = os.environ.get("HYDRALIT_TEST_POSTGRES_URL")


def storages(tmp_path: Path) -> dict[str, str | None]:
    return {"journal": f"journal://{tmp_path / 'study.log'}", "postgres": POSTGRES}


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    [
        "journal",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(
                    not POSTGRES,
                    reason="HYDRALIT_TEST_POSTGRES_URL is not set "
                    "(start one with .ci/services/postgres.sh)",
                ),
            ],
        ),
    ],
)
def test_concurrent_sweepers_share_one_study(tmp_path: Path, kind: str) -> None:
    storage = storages(tmp_path)[kind]
    assert storage
    name = f"shared-{uuid.uuid4().hex[:8]}"
    log_file = tmp_path / "ran.txt"
    cmd = app_cmd(
        "sleep=0.3",
        f"log_file={log_file}",
        "hydra.sweeper.n_trials=10",
        "hydra.sweeper.n_jobs=2",
        f"hydra.sweeper.storage={storage}",
        f"hydra.sweeper.study_name={name}",
        "hydra.sweeper.plots=false",
    )
    procs = [
        subprocess.Popen(
            cmd, env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    all_trials = trials(tmp_path, storage, name)
    done = counted(all_trials)
    assert len(done) == 10 and all(t.state == TrialState.COMPLETE for t in done)
    # every trial that ran was told (nothing lost), none ran twice (nothing doubled)
    ran = log_file.read_text().splitlines()
    assert len(ran) == 10
    # the others were dropped before running: surplus, or a point a sweeper with the same seed
    # had drawn already
    counted_numbers = {t.number for t in done}
    dropped = [t for t in all_trials if t.number not in counted_numbers]
    reasons = {t.user_attrs["hydralit:excluded"].split()[0] for t in dropped}
    assert reasons <= {"surplus", "repeats"}
    assert len(set(param_sets(done))) == 10
