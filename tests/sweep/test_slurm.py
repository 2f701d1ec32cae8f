"""Optuna sweeps through Hydra's submitit launcher on a real (single-node) SLURM cluster.

Needs ``HYDRALIT_TEST_SLURM=1`` and a running cluster (``.ci/services/slurm-start.sh``).
The node has 2 CPUs: asking for more tasks or CPUs would leave jobs pending forever.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import DATA_DIR, ROOT
from tests.sweep.helpers import env, results, sweep_app, trials

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.environ.get("HYDRALIT_TEST_SLURM") and shutil.which("sbatch")),
        reason="no SLURM cluster (set HYDRALIT_TEST_SLURM=1 after .ci/services/slurm-start.sh)",
    ),
]
SLURM = [
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.timeout_min=5",
    "hydra.launcher.cpus_per_task=1",
]


def test_sweep_runs_batches_as_slurm_job_arrays(tmp_path: Path) -> None:
    out = sweep_app(
        tmp_path, *SLURM, "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4", timeout=400
    )
    assert out.returncode == 0, out.stderr
    assert [t.state for t in trials(tmp_path)] == [TrialState.COMPLETE] * 4
    # submitit's per-job folders: two arrays of two tasks each, e.g. 12_0 and 12_1
    job_dirs = [
        p.name for p in (tmp_path / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name)
    ]
    assert len(job_dirs) == 4 and len({d.split("_")[0] for d in job_dirs}) == 2


def test_each_trial_trains_with_two_ddp_ranks(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "run.py",
        "-m",
        *SLURM,
        "hydra.launcher.tasks_per_node=2",
        "hardware.devices=2",
        "hardware.strategy=ddp",
        f"hydra.sweep.dir={tmp_path}",
        f"paths.log_dir={tmp_path}",
        f"paths.data_dir={DATA_DIR}",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "optimizer.lr=tag(log, interval(1e-3, 1e-2))",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=2",
        "test=false",
        "print_config=false",
        "callbacks.progress_bar=null",
    ]
    out = subprocess.run(
        cmd, cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=500
    )
    assert out.returncode == 0, out.stderr[-3000:]
    done = trials(tmp_path)
    assert len(done) == 2 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done)
    assert results(tmp_path)["trials_by_state"].get("FAIL") is None
    # both ranks of the first trial logged; Lightning saw a world of 2
    log = (tmp_path / "trial_0" / "run.log").read_text()
    assert "world_size: 2" in log or "GLOBAL_RANK: 1" in log or "MEMBER: 2/2" in log, log[-2000:]
