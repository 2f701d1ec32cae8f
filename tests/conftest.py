"""Compose the real config (conf/) with CPU, tiny-run and temporary-path overrides."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import CONF, compose_config  # noqa: F401  CONF: tests import it from here

ROOT = Path(__file__).resolve().parents[1]
# generated/cached data sets are shared by all tests (git-ignored)
DATA_DIR = ROOT / "data"
# a few batches on the CPU, no progress bar or config tree in the test log
FAST = [
    "hardware=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "++callbacks.progress_bar=null",
    "print_config=false",
]

Compose = Callable[..., DictConfig]

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Compose:
    """``compose_cfg(*overrides, fast=True)`` -> composed config writing under tmp_path."""

    def _compose(*overrides: str, fast: bool = True, run_dir: Path | None = None) -> DictConfig:
        base = [f"paths.log_dir={tmp_path / 'outputs'}", f"paths.data_dir={DATA_DIR}"]
        return compose_config(
            [*base, *(FAST if fast else []), *overrides], run_dir or tmp_path / "run"
        )

    return _compose


def run_cli(log_dir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """``python run.py ARGS`` with outputs under ``log_dir`` and no progress bar."""
    cmd = [
        sys.executable,
        "run.py",
        *args,
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={DATA_DIR}",
        "++callbacks.progress_bar=null",
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def run_py_importing_none_of(
    argv: list[str], forbidden: tuple[str, ...], then_import: str = "", timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Runs ``run.py ARGV`` in a fresh interpreter, fails there if it imported a forbidden module.

    ``then_import`` names a module imported afterwards and checked too (e.g. a plugin).
    """
    code = (
        f"import sys, runpy; sys.argv = ['run.py', *{argv!r}]\n"
        "try:\n    runpy.run_path('run.py', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, f'run.py exited with {e.code}'\n"
        + (f"import {then_import}\n" if then_import else "")
        + f"loaded = [m for m in {forbidden!r} if m in sys.modules]\n"
        "assert not loaded, f'imported {loaded}'\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
