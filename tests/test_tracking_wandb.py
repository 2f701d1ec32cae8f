"""W&B for real, offline: runs are read back from their .wandb files (what `wandb sync` uploads)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

from src.callbacks.alerts import AlertError
from src.errors import ConfigError
from src.experiments import run
from src.tracking import Session
from src.tracking.offline import OfflineRun, find_runs, read_run
from src.tracking.wandb import resolve_mode
from tests.conftest import DATA_DIR, FAST, ROOT, Compose

W_AND_B_ENV = ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "WANDB_PROJECT", "WANDB_RUN_GROUP")


@pytest.fixture
def no_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A machine where W&B was never configured: no key, no ~/.netrc entry, no WANDB_MODE."""
    for key in W_AND_B_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "absent-netrc"))
    for key in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(key, str(tmp_path / key.lower()))
    return dict(os.environ)


def finished_run(run_dir: Path, timeout: float = 30.0) -> OfflineRun:
    """The offline run once W&B's service has written its exit record (it writes asynchronously)."""
    deadline = time.monotonic() + timeout
    while (wb := read_run(run_dir)).exit_code is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return wb


def only_run(root: Path) -> OfflineRun:
    runs = find_runs(root)
    assert len(runs) == 1, runs
    assert runs[0].name.startswith("offline-run-")
    return finished_run(runs[0])


def run_offline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python run.py ARGS`` in a child whose environment has no W&B account (``env``)."""
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=env | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mode_is_offline_without_credentials(no_account: dict, monkeypatch, tmp_path) -> None:
    assert resolve_mode(None) == "offline"
    assert resolve_mode("disabled") == "disabled"
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password abc123\n")
    monkeypatch.setenv("NETRC", str(netrc))
    assert resolve_mode(None) == "online"  # `wandb login` wrote a key
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert resolve_mode(None) == "offline"  # the user's WANDB_MODE wins
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("NETRC", str(tmp_path / "absent"))
    monkeypatch.setenv("WANDB_API_KEY", "abc123")
    assert resolve_mode(None) == "online"


def test_offline_run_holds_config_metrics_and_summary(no_account: dict, compose_cfg: Compose):
    cfg = compose_cfg(
        "logger=wandb",
        "trainer.max_epochs=2",
        "tags=[smoke,digits]",
        "logger.wandb.watch=gradients",
        "logger.wandb.watch_log_freq=1",
    )
    run(cfg)
    out = Path(cfg.paths.output_dir)
    metrics = json.loads((out / "metrics.json").read_text())
    wb = only_run(out / "wandb")

    assert wb.exit_code == 0 and not wb.failed
    assert wb.job_type == "train" and wb.group == ""
    assert wb.tags == ["smoke", "digits"]
    # the fully resolved config, interpolations included
    assert wb.config["optimizer"]["lr"] == cfg.optimizer.lr
    assert wb.config["model"]["num_classes"] == 10  # ${dataset.num_classes}, resolved
    assert wb.config["trainer"]["max_epochs"] == 2
    info = wb.config["run_info"]
    assert info["output_dir"] == str(out.resolve())
    assert len(info["git_commit"]) == 40 and isinstance(info["git_dirty"], bool)
    # final metrics as summary values, equal to what metrics.json says
    for key in ("test/acc", "val/acc", "val/loss", "epochs"):
        assert wb.summary[key] == pytest.approx(metrics[key]), key
    # metrics.json names it relative to the run directory, W&B where it was written
    assert wb.summary["best_checkpoint"] == str(out / metrics["best_checkpoint"])
    # per-epoch history (2 training epochs, then the best checkpoint's validation) and plots
    val_acc = [h["val/acc"] for h in wb.history if "val/acc" in h]
    assert len(val_acc) == 3 and val_acc[-1] == pytest.approx(metrics["val/acc"])
    assert sum("train/grad_norm_epoch" in h for h in wb.history) == 2
    assert {"plots/learning_curves", "plots/confusion_matrix", "plots/roc_curve"} <= {
        k.rsplit("/", 1)[0] for k in wb.summary if k.startswith("plots/")
    }
    # logger.wandb.watch: gradient histograms of the network's weights
    assert any(k.startswith("gradients/net.") for h in wb.history for k in h)

    # evaluating the checkpoint in the same process is a new run of job type eval
    ev = compose_cfg(
        "logger=wandb",
        "mode=eval",
        f"ckpt_path={wb.summary['best_checkpoint']}",
        run_dir=out / "eval",
    )
    run(ev)
    evaluated = only_run(out / "eval" / "wandb")
    assert evaluated.job_type == "eval" and evaluated.run_id != wb.run_id
    assert evaluated.summary["test/acc"] == pytest.approx(metrics["test/acc"])


def test_failed_job_is_marked_failed(no_account: dict, compose_cfg: Compose) -> None:
    # an alert with action=fail stops the job after its first validation, mid-training
    cfg = compose_cfg(
        "logger=wandb",
        "trainer.max_epochs=3",
        "callbacks.alerts.rules=[{metric: val/acc, above: -1, action: fail}]",
    )
    with pytest.raises(AlertError, match="val/acc"):
        run(cfg)
    out = Path(cfg.paths.output_dir)
    wb = only_run(out / "wandb")
    assert wb.exit_code == 1 and wb.failed
    assert not (out / "metrics.json").exists()
    assert json.loads((out / "alerts.jsonl").read_text().splitlines()[0])["action"] == "fail"


@pytest.mark.slow
def test_multirun_jobs_are_distinct_runs_in_one_group(no_account: dict, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    out = run_offline(
        no_account,
        "-m",
        "logger=wandb",
        "optimizer.lr=0.001,0.002",
        f"hydra.sweep.dir={sweep}",
        f"paths.data_dir={DATA_DIR}",
        *FAST,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = [finished_run(p) for p in find_runs(sweep)]
    assert len(runs) == 2
    assert [p.parent.parent.name for p in find_runs(sweep)] == ["0", "1"]  # one run per job dir
    assert runs[0].run_id != runs[1].run_id
    assert runs[0].group == runs[1].group == "digits_cnn-sweep"
    assert {r.job_type for r in runs} == {"sweep-trial"}
    assert runs[0].name.startswith("0-") and "optimizer.lr=0.001" in runs[0].name
    assert runs[1].name.startswith("1-") and "optimizer.lr=0.002" in runs[1].name
    # where and how the run is recorded is not part of its name
    assert not any(k in runs[0].name for k in ("logger=", "paths.data_dir=", "print_config="))
    assert [r.config["optimizer"]["lr"] for r in runs] == [0.001, 0.002]
    assert all(r.exit_code == 0 for r in runs)


def test_session_takes_the_optuna_study_as_group(compose_cfg: Compose) -> None:
    cfg = compose_cfg()
    hydra_cfg = HydraConfig.instance().cfg.hydra  # type: ignore[union-attr]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.mode = RunMode.MULTIRUN
        hydra_cfg.job.num = 7
        hydra_cfg.job.override_dirname = "optimizer.lr=0.01"
    with open_dict(cfg):
        cfg.optuna = {"study_name": "digits-lr", "trial_number": 7}
    session = Session(cfg)
    assert session.group == "digits-lr"
    assert session.job_type == "sweep-trial"
    assert session.name == "7-optimizer.lr=0.01"
    assert session.trial_number == 7 and session.config["run_info"]["optuna_trial"] == 7


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("logger.wandb.project=team/project", "logger.wandb.project"),
        ("logger.wandb.project=a:b", "logger.wandb.project"),
        ("logger.wandb.watch=weights", "logger.wandb.watch"),
    ],
)
def test_bad_wandb_settings_fail_before_training(compose_cfg: Compose, override, key) -> None:
    cfg = compose_cfg("logger=wandb", override)
    with pytest.raises(ConfigError) as e:
        run(cfg)
    assert e.value.key == key
    assert not Path(cfg.paths.output_dir, "wandb").exists()


def test_bad_project_name_is_one_line_on_the_cli(no_account: dict) -> None:
    out = run_offline(no_account, "logger=wandb", "logger.wandb.project=my/project")
    assert out.returncode == 2
    printed = out.stdout + out.stderr
    assert "logger.wandb.project='my/project': expected 1-128 characters without" in printed
    assert "Traceback" not in printed


@pytest.mark.slow
def test_ddp_run_is_one_wandb_run_and_exits(no_account: dict, tmp_path: Path) -> None:
    # two CPU processes (gloo): only rank 0 may create a W&B run, and both must exit
    out = run_offline(
        no_account,
        "logger=wandb",
        f"hydra.run.dir={tmp_path / 'ddp'}",
        f"paths.data_dir={DATA_DIR}",
        *FAST,
        "hardware=ddp_cpu",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    wb = only_run(tmp_path / "ddp")
    assert wb.exit_code == 0
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert wb.summary["test/acc"] == pytest.approx(metrics["test/acc"])
