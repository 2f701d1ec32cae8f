"""Every Optuna sweep line of the README passes the sweeper's checks (dry run)."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_readme import BLOCKS

SWEEPS = [
    line.split("  #")[0].strip()
    for block in BLOCKS
    for line in block.splitlines()
    if line.strip().startswith("python run.py -m ")
    and ("hydra/sweeper=optuna" in line or "hparams_search=" in line)
]


def test_readme_has_sweep_commands() -> None:
    assert len(SWEEPS) >= 4


@pytest.mark.parametrize("command", SWEEPS)
def test_readme_sweep_passes_the_sweeper_checks(command: str, tmp_path: Path) -> None:
    args = [a.replace("<", "").replace(">", "") for a in shlex.split(command)[2:]]
    out = subprocess.run(
        [
            sys.executable,
            "run.py",
            *args,
            "hydra.sweeper.dry_run=true",
            f"paths.log_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"{command}\\n{out.stderr}"
    assert "dry run: search space" in out.stdout + out.stderr
