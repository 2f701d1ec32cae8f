"""A run killed with SIGKILL mid-epoch continues from its last checkpoint with resume=latest."""

import csv
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


# a named 4-epoch CSV-logged run, so that resume=latest finds the first one
RESUME_RUN = ("name=resume_test", "trainer.max_epochs=4", "print_config=false", "logger=csv")


def test_sigkill_mid_epoch_then_resume_latest(tmp_path: Path) -> None:
    killed = run_cli(
        tmp_path, *RESUME_RUN, "+callbacks.kill={_target_:tests.helpers.KillAt,epoch:2,batch:5}"
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    (first,) = list((tmp_path / "resume_test").iterdir())
    last = torch.load(first / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 1  # the last finished epoch before the kill in epoch 2

    probe = tmp_path / "start.json"
    resumed = run_cli(
        tmp_path,
        *RESUME_RUN,
        "resume=latest",
        f"+callbacks.probe={{_target_:tests.helpers.RecordStart,path:{probe}}}",
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = json.loads(probe.read_text())
    # the epoch counter, step counter and optimizer state continue from the checkpoint
    assert start["epoch"] == last["epoch"] + 1
    assert start["global_step"] == last["global_step"]
    opt_steps = [float(s["step"]) for s in last["optimizer_states"][0]["state"].values()]
    assert start["optimizer_step"] == max(opt_steps) > 0
    assert start["lr"] == pytest.approx(last["lr_schedulers"][0]["_last_lr"][0])

    second = next(p for p in (tmp_path / "resume_test").iterdir() if p != first)
    metrics = json.loads((second / "metrics.json").read_text())
    assert metrics["epochs"] == 4
    with (second / "csv" / "metrics.csv").open() as f:
        epochs_logged = {int(r["epoch"]) for r in csv.DictReader(f) if r["epoch"]}
    assert min(epochs_logged) == 2  # epochs 0-1 were not trained again
