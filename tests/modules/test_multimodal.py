"""The multimodal experiment trains, evaluates, resumes and predicts rows without images."""

import csv
import math
from pathlib import Path

import pytest

from src.experiments import run
from tests.conftest import Compose
from tests.data.fakes import write_csv

EXPERIMENT = "experiment=multimodal_digits"


@pytest.mark.slow  # four runs: ~60 s on a quiet machine
def test_train_eval_resume_then_predict_without_images(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    train_dir = tmp_path / "train"
    run(compose_cfg(EXPERIMENT, "model.net.fusion=attention", run_dir=train_dir))
    ckpt = train_dir / "checkpoints" / "last.ckpt"
    evaluated = run(
        compose_cfg(
            EXPERIMENT,
            "model.net.fusion=attention",
            "mode=eval",
            f"ckpt_path={ckpt}",
            run_dir=tmp_path / "e",
        )
    )
    assert evaluated is not None and math.isfinite(evaluated)
    resumed = compose_cfg(
        EXPERIMENT,
        "model.net.fusion=attention",
        f"ckpt_path={ckpt}",
        "trainer.max_epochs=2",
        run_dir=tmp_path / "r",
    )
    assert run(resumed) is not None

    texts = ["a small red star on the left", "one blue ring below it"]
    rows = write_csv(tmp_path / "new.csv", ["image", "text"], [["", t] for t in texts])
    predict = [
        "model.net.fusion=attention", "mode=predict", f"ckpt_path={ckpt}", "predict.split=all",
        "dataset=multimodal_file", f"dataset.source.rows.path={rows}", "dataset.num_classes=10",
        "dataset.source.tokenizer.max_size=100", "dataset.source.max_length=12",
    ]  # fmt: skip
    run(compose_cfg(EXPERIMENT, *predict, run_dir=tmp_path / "p"))
    with (tmp_path / "p" / "predictions.csv").open() as f:
        predicted = list(csv.DictReader(f))
    assert len(predicted) == 2
    red = [float(v) for k, v in predicted[0].items() if k.startswith("prob_red")]
    assert math.isclose(
        sum(float(v) for k, v in predicted[0].items() if k.startswith("prob_")), 1, rel_tol=1e-4
    )
    assert len(red) == 5
