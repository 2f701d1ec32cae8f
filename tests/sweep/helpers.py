"""Run the quadratic test app or run.py as an Optuna sweep in a subprocess, read the study."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "quadratic" / "app.py"


def env(sweep_dir: Path) -> dict[str, str]:
    # the repo root on sys.path is how Hydra finds hydra_plugins/ (run.py gets it as its dir)
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "SWEEP_DIR": str(sweep_dir),
    }


def app_cmd(*overrides: str) -> list[str]:
    return [sys.executable, str(APP), "-m", *overrides]


def sweep_app(sweep_dir: Path, *overrides: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        app_cmd(*overrides), env=env(sweep_dir), capture_output=True, text=True, timeout=timeout
    )


def trials(
    sweep_dir: Path, storage: str | None = None, name: str = "hydralit"
) -> list[FrozenTrial]:
    url = storage or f"sqlite:///{sweep_dir / 'optuna.db'}"
    from src.sweep.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials()


def counted(all_trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in all_trials if "hydralit:excluded" not in t.user_attrs]


def results(sweep_dir: Path) -> dict:
    return yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())


def kill_once_running(
    proc: subprocess.Popen,
    sweep_dir: Path,
    finished: int,
    name: str = "hydralit",
    timeout: float = 120,
) -> None:
    """SIGKILL the sweeper ``proc`` while a trial runs, after ``finished`` trials have finished.

    Polls the study once the first job's directory exists (the study exists by then: polling
    earlier would race the sweeper creating the database's tables).
    """
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if (sweep_dir / "trial_0").exists():
            states = [t.state for t in trials(sweep_dir, name=name)]
            if len([s for s in states if s.is_finished()]) >= finished and (
                TrialState.RUNNING in states
            ):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the sweeper ended or stalled before {finished} trials finished")


def param_sets(done: list[FrozenTrial]) -> list[tuple]:
    """Each trial's parameters as a sortable tuple, to look for repeats."""
    return [tuple(sorted(t.params.items())) for t in done]
