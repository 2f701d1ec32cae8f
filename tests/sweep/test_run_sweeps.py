"""Optuna sweeps of the real ``run.py``: pruning, NaN loss, and the shipped hparams_search."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import DATA_DIR, ROOT
from tests.sweep.helpers import counted, env, kill_once_running, param_sets, results, trials

TINY = [
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "test=false",
    "print_config=false",
    "callbacks.progress_bar=null",
    f"paths.data_dir={DATA_DIR}",
]


def sweep_cmd(tmp_path: Path, *overrides: str) -> list[str]:
    return [sys.executable, "run.py", "-m", *TINY, f"paths.log_dir={tmp_path}", *overrides]


def sweep_run(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        sweep_cmd(tmp_path, *overrides),
        cwd=ROOT,
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_pruned_trials_stop_after_the_pruned_epoch(tmp_path: Path) -> None:
    # a threshold above any accuracy prunes every trial at its first validation
    out = sweep_run(
        tmp_path,
        f"hydra.sweep.dir={tmp_path}",
        "hydra/sweeper=optuna",
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=1.1",
        "hydra.sweeper.n_trials=2",
        "optimizer.lr=tag(log, interval(1e-3, 1e-2))",
    )
    assert out.returncode == 0, out.stderr
    for t in trials(tmp_path):
        assert t.state == TrialState.PRUNED
        assert t.last_step == 0 and t.user_attrs["prune_reason"].endswith("pruned at epoch 0.")
        run_dir = tmp_path / f"trial_{t.number}"
        rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
        assert {r["epoch"] for r in rows if r["val/acc"]} == {"0"}  # one epoch of three
        assert not (run_dir / "metrics.json").exists()  # no final test/summary either
    assert results(tmp_path)["trials_by_state"] == {"PRUNED": 2}


@pytest.mark.slow
def test_pruning_under_ddp_stops_every_rank_and_the_sweep_goes_on(tmp_path: Path) -> None:
    # 2 CPU ranks per trial; a rank that raised would make Lightning kill the sweeper too
    out = sweep_run(
        tmp_path,
        f"hydra.sweep.dir={tmp_path}",
        "hydra/sweeper=optuna",
        "hardware=ddp_cpu",
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=1.1",
        "hydra.sweeper.n_trials=2",
        "optimizer.lr=tag(log, interval(1e-3, 1e-2))",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert [(t.state, t.last_step) for t in trials(tmp_path)] == [(TrialState.PRUNED, 0)] * 2


@pytest.mark.slow
def test_nan_loss_fails_the_trial_with_its_reason(tmp_path: Path) -> None:
    out = sweep_run(
        tmp_path,
        f"hydra.sweep.dir={tmp_path}",
        "hydra/sweeper=optuna",
        "hydra/sweeper/sampler=grid",
        "optimizer=sgd",
        "model.net.batchnorm=false",
        "optimizer.lr=choice(0.01, 1e9)",
        "hydra.sweeper.max_failure_rate=0.5",
    )
    assert out.returncode == 0, out.stderr
    by_lr = {t.params["optimizer.lr"]: t for t in trials(tmp_path)}
    assert by_lr[1e9].state == TrialState.FAIL
    assert (
        by_lr[1e9].user_attrs["fail_reason"] == "NonFiniteMetricError: train/loss is nan at epoch 0"
    )
    assert by_lr[0.01].state == TrialState.COMPLETE


@pytest.mark.slow
def test_hparams_search_config_runs_and_prints_the_best_command(tmp_path: Path) -> None:
    out = sweep_run(
        tmp_path,
        "hparams_search=digits_cnn_optuna",
        "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=2",
        # the shipped bootstrap_count=1 stops the first trial at the cut after 2 epochs
        "hydra.sweeper.pruner.bootstrap_count=0",
    )
    assert out.returncode == 0, out.stderr
    sweep_dir = tmp_path / "digits_cnn" / "sweeps" / "digits_cnn"
    res = results(sweep_dir)
    assert res["directions"] == ["maximize"]  # from optimized_mode: max
    # the first trial always completes; Hyperband may cut the second after its first epoch
    by_state = res["trials_by_state"]
    assert by_state["COMPLETE"] >= 1 and by_state.keys() <= {"COMPLETE", "PRUNED"}
    assert sum(by_state.values()) == 2
    assert set(res["best_params"]) == {
        "optimizer",
        "optimizer.lr",
        "optimizer.weight_decay",
        "model.net.dropout",
        "model.net.hidden",
        "dataset.batch_size",
    }
    command = res["best_trial"]["command"]
    assert command.startswith("python run.py ") and "hparams_search=digits_cnn_optuna" in command
    assert f"reproduce: {command}" in out.stderr + out.stdout


@pytest.mark.slow
def test_hparams_search_rerun_at_once_after_sigkill_ends_with_n_trials(tmp_path: Path) -> None:
    # the reported bug: killed after 4 of 8 trials and rerun at once, the study ended with the
    # killed trial RUNNING forever and trials 5-7 repeating the parameters of trials 0-2
    args = [
        "hparams_search=digits_cnn_optuna",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.plots=false",
        "trainer.max_epochs=2",
    ]
    sweep_dir = tmp_path / "digits_cnn" / "sweeps" / "digits_cnn"
    proc = subprocess.Popen(
        sweep_cmd(tmp_path, *args),
        cwd=ROOT,
        env=env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_once_running(proc, sweep_dir, finished=4, name="digits_cnn")
    out = sweep_run(tmp_path, *args)
    assert out.returncode == 0, out.stderr[-3000:]
    all_trials = trials(sweep_dir, name="digits_cnn")
    assert [t.number for t in all_trials if t.state == TrialState.RUNNING] == []
    done = counted(all_trials)
    assert len(done) == 8 and all(t.state.is_finished() for t in done)
    assert len(set(param_sets(done))) == 8, "a parameter set was evaluated twice"
    assert sum(results(sweep_dir)["trials_by_state"].values()) == 8
