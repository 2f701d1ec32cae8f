"""Audio classification end to end: train on a folder of WAV files, evaluate the checkpoint,
predict new WAV files (loose ones too) with nothing but the checkpoint."""

import csv
import shutil
from pathlib import Path

import pytest

from src.experiments.evaluate import evaluate
from src.experiments.predict import predict
from src.experiments.train import train
from tests.conftest import Compose
from tests.data.fakes import write_wav_folder

COMMON = ["experiment=wav_folder_cnn", "dataset.source.sample_rate=8000"]
COMMON += ["dataset.source.duration=0.5", "model.net.channels=[8,16]"]


@pytest.mark.slow  # three entries (train, eval, predict): 66 s on the shared 2-core machine
def test_trains_evaluates_and_predicts_wav_files(compose_cfg: Compose, tmp_path: Path) -> None:
    root = write_wav_folder(tmp_path / "wav", {"high": 20, "low": 20, "mid": 20})
    fit = [*COMMON, f"dataset.source.path={root}", "trainer.max_epochs=6"]
    fit += ["trainer.limit_train_batches=1.0", "optimizer.lr=0.01", "dataset.batch_size=16"]
    metrics = train(compose_cfg(*fit, run_dir=tmp_path / "fit"))
    assert metrics["test/acc"] >= 0.8  # three tones, 9 test clips
    ckpt = f"ckpt_path={metrics['best_checkpoint']}"
    evaluated = evaluate(compose_cfg(*fit, "mode=eval", ckpt, run_dir=tmp_path / "eval"))
    assert evaluated["test/acc"] == pytest.approx(metrics["test/acc"])

    new = tmp_path / "new"
    (new / "mid").mkdir(parents=True)
    shutil.copy(root / "low" / "003.wav", new / "loose.wav")  # no class: target -1
    shutil.copy(root / "mid" / "005.wav", new / "mid" / "005.wav")
    args = [*COMMON, "mode=predict", "predict.split=all", ckpt, f"dataset.source.path={new}"]
    out = predict(compose_cfg(*args, run_dir=tmp_path / "predict"))
    with open(out["predictions"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["target"] for r in rows] == ["2", "-1"]  # mid/005.wav, then loose.wav
    assert list(rows[0])[-3:] == ["prob_high", "prob_low", "prob_mid"]  # the training classes
    assert [r["prediction"] for r in rows] == ["2", "1"]
