"""End to end: the train, eval and predict entries on the real config."""

import csv
import json
from pathlib import Path

import pytest
from omegaconf import DictConfig

from src.experiments import run
from src.experiments.train import train
from tests.conftest import Compose, run_cli


@pytest.mark.slow
def test_default_experiment_reaches_097_on_digits(compose_cfg: Compose, tmp_path: Path) -> None:
    cfg = compose_cfg("print_config=false", "++callbacks.progress_bar=null", fast=False)
    metrics = train(cfg)
    assert metrics["test/acc"] >= 0.97
    assert metrics["epochs"] == cfg.trainer.max_epochs
    out = Path(metrics["run_dir"])
    for name in (
        "config_resolved.yaml",
        "metrics.json",
        "learning_curves.png",
        "confusion_matrix.png",
        "roc_curve.png",
        "csv/metrics.csv",
        "checkpoints/last.ckpt",
    ):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test/acc"] == pytest.approx(metrics["test/acc"])
    assert (out / saved["best_checkpoint"]).is_file()  # relative to the run directory
    assert saved["run_dir"] == "."


def test_binary_tabular_reports_auroc_and_roc_plot(compose_cfg: Compose) -> None:
    cfg = compose_cfg("dataset=breast_cancer", "model=mlp", "trainer.max_epochs=3")
    metrics = train(cfg)
    assert 0.5 < metrics["test/auroc"] <= 1.0
    out = Path(metrics["run_dir"])
    assert (out / "roc_curve.png").stat().st_size > 5000
    assert "test/auroc" in json.loads((out / "metrics.json").read_text())


def test_run_returns_the_optimized_metric(compose_cfg: Compose) -> None:
    cfg = compose_cfg("optimized_metric=val/loss")
    value = run(cfg)
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert value == pytest.approx(saved["val/loss"])


def test_eval_and_predict_a_checkpoint(compose_cfg: Compose, tmp_path: Path) -> None:
    trained = train(compose_cfg(run_dir=tmp_path / "train"))
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"

    evaluated = run_entry(compose_cfg("mode=eval", f"ckpt_path={ckpt}", run_dir=tmp_path / "eval"))
    assert evaluated["checkpoint"] == str(ckpt)
    assert 0.0 <= evaluated["test/acc"] <= 1.0
    assert (tmp_path / "eval" / "confusion_matrix.png").is_file()

    cfg = compose_cfg(
        "mode=predict", f"ckpt_path={ckpt}", "predict.split=val", run_dir=tmp_path / "pred"
    )
    predicted = run_entry(cfg)
    with open(predicted["predictions"]) as f:
        rows = list(csv.DictReader(f))
    # 1,797 digits: test = ceil(0.15 * 1797) = 270, val = ceil(0.15 * 1527) = 230
    assert len(rows) == 230
    assert list(rows[0])[:3] == ["index", "target", "prediction"]
    assert len(rows[0]) == 3 + 10
    probs = [float(rows[0][f"prob_{c}"]) for c in range(10)]
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert int(rows[0]["prediction"]) == probs.index(max(probs))
    assert trained["run_dir"] != predicted["run_dir"]


def run_entry(cfg: DictConfig) -> dict:
    """The final metrics of the entry that ``cfg.mode`` names (conf/mode/<name>.yaml)."""
    from hydra.utils import get_method

    from src.config.validate import validate

    validate(cfg)
    return get_method(cfg.mode.entry)(cfg)


def test_cli_trains_and_prints_metrics_and_run_dir(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "debug=fast")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "test/acc" in out.stdout
    assert f"run directory: {tmp_path}" in out.stdout.replace("\n", "")


def test_multirun_writes_one_directory_per_job(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "-m", "debug=fast", "optimizer=adam,sgd")
    assert out.returncode == 0, out.stderr[-3000:]
    (sweep,) = (tmp_path / "digits_cnn" / "multirun").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    optimizers = [json.loads((sweep / j / "metrics.json").read_text()) for j in jobs]
    assert all("test/acc" in m for m in optimizers)
    assert "_target_: torch.optim.SGD" in (sweep / "1" / "config_resolved.yaml").read_text()
