"""Text classification end to end: train on a user's CSV with config only, evaluate and resume
the checkpoint, then predict new texts from the checkpoint alone (its vocabulary and class
names)."""

import csv
from pathlib import Path

import pytest

from src.experiments.evaluate import evaluate
from src.experiments.predict import predict
from src.experiments.train import train
from tests.conftest import Compose
from tests.data.fakes import write_csv, write_texts


def test_predict_writes_labels_and_probabilities_for_new_texts(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    data = ["experiment=text_lstm", "dataset=text_file", "model.callbacks={}"]
    train_file = write_texts(tmp_path / "train.csv", n=300)
    metrics = train(compose_cfg(*data, f"dataset.texts.path={train_file}"))
    ckpt = f"ckpt_path={metrics['best_checkpoint']}"
    fit = [*data, f"dataset.texts.path={train_file}"]
    scores = evaluate(compose_cfg(*fit, "mode=eval", ckpt, run_dir=tmp_path / "eval"))
    assert scores["test/acc"] == pytest.approx(metrics["test/acc"])  # same vocabulary, weights
    resumed = train(compose_cfg(*fit, ckpt, "trainer.max_epochs=2", run_dir=tmp_path / "more"))
    assert resumed["epochs"] == 2
    # new texts without a label column; the training file is gone
    train_file.unlink()
    texts = ["the food was very good", "the service was not good at all", "unseen words here"]
    new = write_csv(tmp_path / "new.csv", ["text"], [[t] for t in texts])
    cfg = compose_cfg(
        *data, "mode=predict", f"dataset.texts.path={new}", "predict.split=all",
        ckpt, run_dir=tmp_path / "predict",
    )  # fmt: skip
    out = predict(cfg)
    with open(out["predictions"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and {r["target"] for r in rows} == {"-1"}  # unlabelled
    for row in rows:
        probs = float(row["prob_negative"]), float(row["prob_positive"])
        assert abs(sum(probs) - 1) < 1e-4
        assert row["prediction"] == str(int(probs[1] > probs[0]))
