"""An Optuna sweep of the GAN task through the real run.py: its own objective (val/fid, min)."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import DATA_DIR, ROOT
from tests.modules.gan_helpers import digits_classifier
from tests.sweep.helpers import env, results, trials


@pytest.mark.slow
def test_a_gan_sweep_minimises_fid(tmp_path: Path) -> None:
    cmd = [sys.executable, "run.py", "-m", "experiment=digits_gan"]
    cmd += [f"model.fid_classifier={digits_classifier()}", f"paths.log_dir={tmp_path}"]
    cmd += [f"paths.data_dir={DATA_DIR}", f"hydra.sweep.dir={tmp_path}", "hydra/sweeper=optuna"]
    cmd += ["hydra.sweeper.n_trials=2", "model.optimizer_g.lr=tag(log, interval(1e-4, 1e-3))"]
    cmd += ["trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.limit_val_batches=2"]
    cmd += ["test=false", "print_config=false", "callbacks.progress_bar=null"]
    out = subprocess.run(
        cmd, cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert results(tmp_path)["directions"] == ["minimize"]  # from optimized_mode: min
    done = trials(tmp_path)
    assert [t.state for t in done] == [TrialState.COMPLETE] * 2
    assert all(t.value is not None and math.isfinite(t.value) and t.value > 0 for t in done)
