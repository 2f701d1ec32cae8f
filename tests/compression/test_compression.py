"""The compression members: schedules, the report, loading the compressed model, bad input."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from torch import nn

from src.compression import report
from src.compression.distillation import Teacher, distillation_loss
from src.compression.pruning import CubicSparsity
from src.compression.quantization import dynamic_targets, quantize_dynamic, quantize_static
from src.compression.transform import CompressionChecks
from src.errors import ConfigError
from src.experiments import build
from src.experiments.evaluate import evaluate
from src.experiments.train import train
from src.networks.cnn import LeNet
from tests.conftest import Compose

QUICK = ["logger=none", "compression.transform.repeats=3", "compression.transform.warmup=1"]


def test_cubic_schedule_reaches_the_target_sparsity() -> None:
    schedule = CubicSparsity(target=0.8, epochs=10, start=0.1, ramp=0.5)
    left = 1.0
    for epoch in range(10):
        left *= 1 - schedule(epoch)  # ModelPruning prunes a fraction of what is left
        assert 1 - left == pytest.approx(schedule.total(epoch))
    assert schedule(0) == 0.0
    assert 1 - left == pytest.approx(0.8)


def test_report_counts_zeros_and_quantised_weights() -> None:
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 2))
    with torch.no_grad():
        net[0].weight[:4] = 0
    assert report.count(net) == (8448, 8448 - 256)
    quantised = torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)
    assert report.count(quantised)[0] == 8448  # int8 rounding may zero a few more
    assert report.sizes(quantised)["size_bytes"] < report.sizes(net)["size_bytes"]
    lstm = nn.Sequential(nn.LSTM(8, 16, num_layers=2, bidirectional=True))
    packed = torch.ao.quantization.quantize_dynamic(lstm, {nn.LSTM}, dtype=torch.qint8)
    assert report.count(packed)[0] == report.count(lstm)[0] == 9216  # inside script objects


def test_distillation_loss_is_zero_for_the_teacher_itself() -> None:
    logits = torch.randn(5, 3)
    assert distillation_loss(logits, logits, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_loss(logits, -logits, 4.0).item() > 0


@pytest.mark.slow  # ~50 s on the shared 2-core machine: trains, compresses, evaluates
def test_quantize_dynamic_run_is_what_eval_loads(compose_cfg: Compose, tmp_path: Path) -> None:
    cfg = compose_cfg("model=mlp", "compression=quantize_dynamic", *QUICK)
    metrics = train(cfg)
    saved = json.loads((tmp_path / "run" / "compression_report.json").read_text())
    assert saved["after"]["size_bytes"] < saved["before"]["size_bytes"]
    assert metrics["compression/size_bytes_ratio"] > 2  # int8 weights: ~4x fewer bytes
    ckpt = tmp_path / "run" / "checkpoints" / "compressed.ckpt"
    eval_cfg = compose_cfg(
        "model=mlp",
        "compression=quantize_dynamic",
        *QUICK,
        "mode=eval",
        f"ckpt_path={ckpt}",
        run_dir=tmp_path / "eval",
    )
    assert evaluate(eval_cfg)["test/acc"] == pytest.approx(metrics["compression/after/test/acc"])


@pytest.mark.slow  # 38-55 s on the shared 2-core machine (torchao folds BN by exporting patterns)
def test_qat_checkpoint_is_what_eval_loads(compose_cfg: Compose, tmp_path: Path) -> None:
    member = ["compression=qat", "compression.epochs=1", *QUICK]
    metrics = train(compose_cfg(*member))
    saved = json.loads((tmp_path / "run" / "compression_report.json").read_text())
    # the int8 graph only: no float copies of the weights, no folded batch norms
    assert saved["after"]["params"] == saved["before"]["params"]
    assert metrics["compression/size_bytes_ratio"] > 3
    ckpt = tmp_path / "run" / "checkpoints" / "compressed.ckpt"
    eval_cfg = compose_cfg(*member, "mode=eval", f"ckpt_path={ckpt}", run_dir=tmp_path / "eval")
    assert evaluate(eval_cfg)["test/acc"] == pytest.approx(metrics["compression/after/test/acc"])


def test_static_quantisation_without_training_batches(tmp_path: Path) -> None:
    net = LeNet([1, 8, 8], num_outputs=2, channels=[4], hidden=8)
    context = SimpleNamespace(example={"x": torch.randn(2, 1, 8, 8)}, train_inputs=lambda n: [])
    with pytest.raises(ConfigError, match="training data to calibrate activation ranges on"):
        quantize_static(net, context)  # type: ignore[arg-type]


def test_unknown_dynamic_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"compression\.transform\.method\.backend"):
        quantize_dynamic(nn.Linear(4, 2), backend="fbgemm")


def test_report_shows_the_compiled_pair_beside_the_eager_one() -> None:
    rows = {
        "before": {"size_bytes": 400.0, "latency_ms_b64": 2.0},
        "after": {"size_bytes": 100.0, "latency_ms_b64": 4.0},
        "before_compiled": {"latency_ms_b64": 1.0},
        "after_compiled": {"latency_ms_b64": 0.5},
    }
    flat = report.summary(rows)
    assert flat["compression/latency_ms_b64_ratio"] == 0.5
    assert flat["compression/compiled_latency_ms_b64_ratio"] == 2.0
    assert flat["compression/after_compiled/latency_ms_b64"] == 0.5


def test_distill_without_a_teacher_stops_before_training(compose_cfg: Compose) -> None:
    cfg = compose_cfg("model=mlp", "compression=distill", *QUICK)
    with pytest.raises(ConfigError, match=r"model\.teacher\.checkpoint=None"):
        train(cfg)


def test_teacher_with_other_classes_is_refused(compose_cfg: Compose, tmp_path: Path) -> None:
    run = tmp_path / "teacher"
    (run / "checkpoints").mkdir(parents=True)
    net = {"_target_": "torch.nn.Linear", "in_features": 64, "out_features": 3}
    (run / "config_resolved.yaml").write_text(yaml.safe_dump({"model": {"net": net}}))
    state = {f"net.{k}": v for k, v in nn.Linear(64, 3).state_dict().items()}
    torch.save({"state_dict": state}, run / "checkpoints" / "best.ckpt")
    teacher = f"model.teacher.checkpoint={run / 'checkpoints' / 'best.ckpt'}"
    module = build.module(compose_cfg("model=mlp", "compression=distill", teacher, *QUICK))
    with pytest.raises(ConfigError, match="a teacher with 10 outputs like the student; it has 3"):
        module.setup("fit")
    assert not any("teacher" in k for k in module.state_dict())


@pytest.mark.parametrize(
    ("member", "override", "key"),
    [
        ("prune_magnitude", "compression.sparsity=1.0", "compression.sparsity"),
        ("prune_structured", "compression.ratio=-0.1", "compression.ratio"),
        ("quantize_static", "compression.calibration_batches=0", "compression.calibration_batches"),
        ("qat", "compression.epochs=0", "compression.epochs"),
    ],
)
def test_bad_settings_fail_when_built(
    compose_cfg: Compose, member: str, override: str, key: str
) -> None:
    cfg = compose_cfg(f"compression={member}", override, *QUICK)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build.callbacks(cfg)


def test_quantising_a_network_without_supported_layers() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    with pytest.raises(ConfigError, match="compression=quantize_static"):
        dynamic_targets(net, ["Linear", "LSTM", "GRU"])


def test_int8_member_on_a_gpu_is_refused() -> None:
    checks = CompressionChecks("quantize_dynamic", cpu_only=True)
    gpu_trainer = SimpleNamespace(accelerator=object())  # any accelerator but the CPU's
    with pytest.raises(ConfigError, match="the CPU for compression=quantize_dynamic"):
        checks.setup(gpu_trainer, nn.Module(), "fit")  # type: ignore[arg-type]


def test_teacher_loads_frozen(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inside a run directory"):
        Teacher(str(tmp_path / "missing.ckpt")).load()
