"""The shipped recommendation search through the real run.py: its own objective (val/ndcg@10,
max) over 3 Optuna trials."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import DATA_DIR, ROOT
from tests.sweep.helpers import env, results, trials


@pytest.mark.slow
def test_the_recommendation_search_maximises_ndcg(tmp_path: Path) -> None:
    cmd = [sys.executable, "run.py", "-m", "hparams_search=recsys_optuna"]
    cmd += [f"paths.log_dir={tmp_path}", f"paths.data_dir={DATA_DIR}", "hydra.sweeper.n_trials=3"]
    cmd += ["trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.limit_val_batches=2"]
    # a small generated set: setting up 1000 users' evaluation candidates per trial costs time
    cmd += ["dataset.source.num_users=200", "hydra.sweeper.pruner.bootstrap_count=0"]
    out = subprocess.run(
        cmd, cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    sweep_dir = tmp_path / "recsys_neumf" / "sweeps" / "recsys_neumf"
    res = results(sweep_dir)
    assert res["directions"] == ["maximize"]  # from optimized_mode: max
    by_state = res["trials_by_state"]
    assert by_state["COMPLETE"] >= 1 and by_state.keys() <= {"COMPLETE", "PRUNED"}
    assert sum(by_state.values()) == 3
    done = [t for t in trials(sweep_dir, name="recsys_neumf") if t.state == TrialState.COMPLETE]
    assert all(t.value is not None and math.isfinite(t.value) and 0 <= t.value <= 1 for t in done)
    assert set(res["best_params"]) >= {"optimizer.lr", "model.net.dim", "dataset.train_negatives"}
