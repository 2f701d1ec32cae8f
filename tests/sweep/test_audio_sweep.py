"""A 3-trial Optuna sweep of the audio task through the real run.py (hparams_search config)."""

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import DATA_DIR, ROOT
from tests.data.fakes import SMALL_SPOKEN_DIGITS
from tests.sweep.helpers import env, results, trials


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_the_spoken_digits_search_runs_three_trials(tmp_path: Path) -> None:
    cmd = [sys.executable, "run.py", "-m", "hparams_search=spoken_digits_optuna"]
    cmd += [f"paths.log_dir={tmp_path}", f"paths.data_dir={DATA_DIR}", *SMALL_SPOKEN_DIGITS]
    cmd += [f"hydra.sweep.dir={tmp_path}", "hydra.sweeper.n_trials=3", "hardware=cpu"]
    cmd += ["trainer.max_epochs=2", "trainer.limit_train_batches=2", "model.net.channels=[8,16]"]
    out = subprocess.run(
        cmd, cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=400
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert results(tmp_path)["directions"] == ["maximize"]  # val/acc, optimized_mode: max
    done = trials(tmp_path, name="spoken_digits_cnn")
    assert len(done) == 3
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done)
    finished = [t for t in done if t.state == TrialState.COMPLETE]
    assert finished and all(t.value is not None and 0 <= t.value <= 1 for t in finished)
    assert all(math.isfinite(t.value) for t in finished if t.value is not None)
    assert len({t.params["optimizer.lr"] for t in done}) == 3  # three points of the space
