"""A run killed with SIGKILL mid-epoch continues from its last checkpoint with resume=latest,
and ends with the metrics of a run that was never stopped."""

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


# the default digits CNN (dropout, random shifts), long enough that the resumed epochs 4-6
# decide the result; killed in epoch 4 (after its 5th batch), so last.ckpt holds epoch 3
EXACT_RUN = (
    "name=exact_resume",
    "trainer.max_epochs=7",
    "hardware.deterministic=true",
    "print_config=false",
)
KILL_IN_EPOCH_4 = "+callbacks.kill={_target_:tests.helpers.KillAt,epoch:4,batch:5}"


def _final_scores(run_dir: Path) -> dict[str, float]:
    """metrics.json without the entries that differ between any two runs (paths, timings)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    kept = {k: v for k, v in metrics.items() if k.split("/")[0] in ("train", "val", "test")}
    return kept | {"epochs": metrics["epochs"], "global_step": metrics["global_step"]}


def test_resumed_run_ends_with_the_uninterrupted_runs_metrics(tmp_path: Path) -> None:
    runs = tmp_path / "exact_resume"  # resume=latest searches <log_dir>/<name>

    def run(run_dir: Path, *args: str) -> int:
        done = run_cli(tmp_path, *EXACT_RUN, f"hydra.run.dir={run_dir}", *args)
        assert done.returncode in (0, -9), done.stderr[-3000:]
        return done.returncode

    assert run(tmp_path / "uninterrupted") == 0
    assert run(runs / "killed", KILL_IN_EPOCH_4) == -9
    assert run(runs / "resumed", "resume=latest") == 0
    with (runs / "resumed" / "csv" / "metrics.csv").open() as f:
        assert min(int(r["epoch"]) for r in csv.DictReader(f) if r["epoch"]) == 4  # resumed
    expected = _final_scores(tmp_path / "uninterrupted")
    assert {"train/loss", "val/acc", "test/acc"} <= expected.keys()
    assert _final_scores(runs / "resumed") == expected  # exactly: every digit of every metric

    # the same resume without the generators' states (as before RNGState) repeats epoch 0's
    # dropout masks and shifts in epochs 4-6 and ends elsewhere: this run is sensitive to them
    last = runs / "killed" / "checkpoints" / "last.ckpt"
    assert run(tmp_path / "reseeded", f"ckpt_path={last}", "~callbacks.rng_state") == 0
    assert _final_scores(tmp_path / "reseeded") != expected
