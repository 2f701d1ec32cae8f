"""The hardware group: derived batch/lr values, DDP on CPU (single run, -m sweep, resume),
bf16 on CPU, torch.compile, and GPU paths behind the `gpu` marker."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from src.config.validate import validate
from src.errors import ConfigError
from src.experiments.train import train
from src.hardware import distributed
from tests.conftest import DATA_DIR, ROOT, Compose

# 2 processes share the machine's cores: keep each process to one thread
DDP = ["hardware=ddp_cpu", "hardware.devices=2"]
# What makes a 2-process run compute exactly what one process on the same global batch does:
# - the loader shards strided, so step i of both ranks together holds the samples of step i of
#   the single process (hardware.batch_size_mode=global halves the per-process batch);
# - DDP averages the ranks' gradients of equal-sized batches = the gradient of the whole batch;
# - no batch norm: each rank would normalise over its half of the batch, and sync_batchnorm,
#   which would fix that, runs on CUDA only (tested under the gpu marker);
# - no dropout and no augmentation: their random draws differ between 1 and 2 processes.
# What remains is float summation order (~1e-7 per step).
EQUIVALENT = [
    "hardware.batch_size_mode=global",
    "model.net.batchnorm=false",
    "model.net.dropout=0.0",
    "dataset.augment.max_translate=0",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=6",
    "trainer.limit_val_batches=1.0",
    "trainer.limit_test_batches=1.0",
]
GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _end_ddp_job() -> Iterator[None]:
    """A DDP test's rank 0 is this process: reap its ranks, env and process group afterwards."""
    yield
    distributed.end_previous_job()


def test_resolved_config_records_world_size_and_per_device_batch(compose_cfg: Compose) -> None:
    cfg = compose_cfg(*DDP, "hardware.batch_size_mode=global", "dataset.batch_size=64")
    hw = cfg.hardware
    assert (hw.world_size, hw.per_device_batch_size, hw.effective_batch_size) == (2, 32, 64)
    assert hw.lr == cfg.optimizer.lr  # lr_scaling=none


@pytest.mark.parametrize(("rule", "factor"), [("linear", 2.0), ("sqrt", 2.0**0.5)])
def test_lr_scales_with_the_effective_batch(compose_cfg: Compose, rule: str, factor: float) -> None:
    # per_device: 2 processes x 64 = 128 samples per step, twice the batch lr was tuned for
    cfg = compose_cfg(*DDP, f"hardware.lr_scaling={rule}", "dataset.batch_size=64")
    assert cfg.hardware.effective_batch_size == 128
    assert cfg.hardware.lr == pytest.approx(cfg.optimizer.lr * factor)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["hardware"]["world_size"] == 2  # type: ignore[index]


def test_global_batch_that_does_not_split_fails_before_training(compose_cfg: Compose) -> None:
    cfg = compose_cfg(*DDP, "hardware.devices=3", "hardware.batch_size_mode=global")
    with pytest.raises(ConfigError, match=r"dataset\.batch_size=64.*multiple of the world size 3"):
        validate(cfg)


def test_sync_batchnorm_on_cpu_fails_before_training(compose_cfg: Compose) -> None:
    with pytest.raises(ConfigError, match=r"hardware\.sync_batchnorm=True.*CUDA"):
        validate(compose_cfg(*DDP, "hardware.sync_batchnorm=true"))


def test_matmul_precision_is_applied(compose_cfg: Compose) -> None:
    from src.experiments import build

    before = torch.get_float32_matmul_precision()
    try:
        build.trainer(compose_cfg("hardware.matmul_precision=medium"), [], [])
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(before)


def test_bf16_mixed_trains_on_cpu_and_is_recorded(compose_cfg: Compose, tmp_path: Path) -> None:
    metrics = train(compose_cfg("hardware.precision=bf16-mixed"))
    assert metrics["precision"] == "bf16-mixed"
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["precision"] == "bf16-mixed"


def test_compile_compiles_the_module_built_for_every_task(compose_cfg: Compose) -> None:
    from src.experiments import build

    assert build.module(compose_cfg())._compiled_call_impl is None
    compiled = build.module(compose_cfg("hardware.compile=true"))
    assert compiled._compiled_call_impl is not None
    assert not any("_orig_mod" in k for k in compiled.state_dict())  # checkpoints unchanged


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile on CPU needs a C++ compiler")
def test_compile_trains_on_cpu(compose_cfg: Compose) -> None:
    plain = train(compose_cfg("model.net.dropout=0.0", "dataset.augment.max_translate=0"))
    compiled = train(
        compose_cfg(
            "hardware.compile=true", "model.net.dropout=0.0", "dataset.augment.max_translate=0"
        )
    )
    # same model, same data: compiled kernels change only float rounding
    assert compiled["val/loss"] == pytest.approx(plain["val/loss"], rel=1e-3)


@pytest.mark.slow
def test_ddp_cpu_matches_one_process_on_the_same_global_batch(
    compose_cfg: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.callbacks.classification import ConfusionMatrixPlot

    plotted: list[int] = []  # test samples in rank 0's confusion matrix
    plot = ConfusionMatrixPlot.plot

    def spy(self: ConfusionMatrixPlot, probs: Any, target: Any, *args: Any) -> Path:
        plotted.append(len(target))
        return plot(self, probs, target, *args)

    monkeypatch.setattr(ConfusionMatrixPlot, "plot", spy)
    ddp = train(compose_cfg(*DDP, *EQUIVALENT, run_dir=tmp_path / "ddp"))
    single = train(compose_cfg(*EQUIVALENT, run_dir=tmp_path / "single"))
    assert plotted[0] == plotted[1] > 0  # rank 0 plots every rank's predictions
    assert (ddp["world_size"], single["world_size"]) == (2, 1)
    assert ddp["global_step"] == single["global_step"] == 12
    assert ddp["val/loss"] == pytest.approx(single["val/loss"], rel=1e-4)
    assert ddp["test/acc"] == pytest.approx(single["test/acc"], abs=1e-6)
    # rank 0 alone wrote the run's files, checkpoints once
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == [
        "epoch_001.ckpt",
        "last.ckpt",
    ]
    assert json.loads((tmp_path / "ddp" / "metrics.json").read_text())["world_size"] == 2


@pytest.mark.slow
def test_ddp_predicts_every_row_of_the_split_in_order(compose_cfg: Compose, tmp_path: Path) -> None:
    from src.experiments.predict import predict

    train(compose_cfg("test=false", run_dir=tmp_path / "train"))
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"
    # 189 test rows: the two ranks' shards differ by one row
    odd = ["mode=predict", f"ckpt_path={ckpt}", "dataset.test_fraction=0.105"]
    predict(compose_cfg(*DDP, *odd, run_dir=tmp_path / "ddp"))
    predict(compose_cfg(*odd, run_dir=tmp_path / "one"))
    ddp, one = (
        (tmp_path / run / "predictions.csv").read_text().splitlines() for run in ("ddp", "one")
    )
    assert len(ddp) == len(one) == 1 + 189
    # index, target, predicted class of every row
    assert [r.split(",")[:3] for r in ddp] == [r.split(",")[:3] for r in one]


@pytest.mark.slow
def test_ddp_resumes_from_its_last_checkpoint(compose_cfg: Compose, tmp_path: Path) -> None:
    first = train(compose_cfg(*DDP, "test=false", run_dir=tmp_path / "first"))
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    resumed = train(
        compose_cfg(
            *DDP, "test=false", "trainer.max_epochs=2", f"ckpt_path={last}", run_dir=tmp_path / "2"
        )
    )
    assert first["global_step"] == 3  # 3 batches per rank and epoch
    assert resumed["global_step"] == 6  # continued: the second epoch only
    assert sorted(p.name for p in (tmp_path / "2" / "checkpoints").iterdir()) == [
        "epoch_001.ckpt",
        "last.ckpt",
    ]


@pytest.mark.slow
def test_ddp_inside_multirun_writes_one_result_per_job(tmp_path: Path) -> None:
    """`python run.py -m` with DDP: 2 jobs, each one metrics file and one set of checkpoints."""
    log_dir = tmp_path / "outputs"
    cmd = [
        sys.executable,
        "run.py",
        "-m",
        "name=sweep",
        *DDP,
        "optimizer.lr=0.001,0.002",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "test=false",
        "++callbacks.progress_bar=null",
        "print_config=false",
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={DATA_DIR}",
        "hydra.sweep.dir=" + str(log_dir / "sweep"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    jobs = sorted(p for p in (log_dir / "sweep").iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    for job, lr in zip(jobs, (0.001, 0.002), strict=True):
        assert [p.name for p in job.rglob("metrics.json")] == ["metrics.json"]
        assert sorted(p.name for p in job.rglob("*.ckpt")) == ["epoch_000.ckpt", "last.ckpt"]
        assert not list(job.rglob("multirun.yaml")), "a rank started a sweep of its own"
        assert json.loads((job / "metrics.json").read_text())["world_size"] == 2
        resolved = OmegaConf.load(job / "config_resolved.yaml")
        assert resolved.optimizer.lr == lr and resolved.hardware.world_size == 2
    # nothing else was created beside the sweep directory: no stray run dirs of extra ranks
    assert [p.name for p in log_dir.iterdir()] == ["sweep"]
    assert done.stdout.count("final metrics") == 2  # one summary per job, from rank 0


@pytest.mark.gpu
@GPU
def test_gpu_16_mixed_trains(compose_cfg: Compose) -> None:
    metrics = train(compose_cfg("hardware=gpu"))
    assert metrics["precision"] == "16-mixed"
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
@pytest.mark.parametrize("member", ["gpu", "ddp", "fsdp"])
def test_gpu_member_without_gpu_fails_before_training(compose_cfg: Compose, member: str) -> None:
    from src.experiments import build

    with pytest.raises(ConfigError, match=r"hardware\.accelerator='gpu'.*hardware=auto"):
        build.trainer(compose_cfg(f"hardware={member}"), [], [])


@pytest.mark.gpu
@GPU
@pytest.mark.parametrize(
    ("member", "extra"), [("ddp", "hardware.sync_batchnorm=true"), ("fsdp", "test=false")]
)
def test_multi_gpu_strategies_train(compose_cfg: Compose, member: str, extra: str) -> None:
    """NCCL DDP (with SyncBatchNorm) and FSDP on every visible GPU (one GPU = a world of one)."""
    metrics = train(compose_cfg(f"hardware={member}", extra))
    assert metrics["world_size"] == torch.cuda.device_count()
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))


def _ranks(*scripts: str) -> distributed._Started:
    procs = [subprocess.Popen([sys.executable, "-c", s]) for s in scripts]
    return distributed._Started(env={}, procs=procs)


def test_a_rank_failing_after_the_job_ended_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lightning's watcher SIGKILLs rank 0 (here: pytest) for this; ours logs it."""
    started = _ranks("import time, sys; time.sleep(0.3); sys.exit(3)")
    started.done.set()  # rank 0 finished its part
    watcher = distributed.RankWatcher(started, period_s=0.05, grace_s=0.1)
    watcher.start()
    watcher.join(timeout=5)
    assert started.procs[0].wait(5) == 3 and not watcher.is_alive()


def test_a_rank_failing_during_the_job_ends_the_other_ranks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = _ranks("import sys; sys.exit(2)", "import time; time.sleep(60)")
    watcher = distributed.RankWatcher(started, period_s=0.05, grace_s=30)
    watcher.start()
    started.procs[1].wait(10)  # killed by the watcher, not after its 60 s
    assert started.procs[1].returncode == -9
    started.done.set()  # rank 0 finishes within the grace period: it is not killed
    watcher.join(timeout=5)
    assert not watcher.is_alive()
    assert "exited with code 2" in caplog.text
