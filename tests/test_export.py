"""mode=export: every experiment's checkpoint becomes ONNX / torch.export files that take the
inputs as a user holds them and match the eager module; bad input is one line."""

import json
from pathlib import Path

import numpy as np
import pytest

from src.errors import ConfigError, UserError
from src.experiments.export import export
from src.experiments.train import train
from tests.conftest import CONF, Compose, run_cli
from tests.test_experiments import data_overrides

pytest.importorskip("onnxruntime")

EXPERIMENTS = [
    pytest.param(p.stem, marks=pytest.mark.slow) if p.stem.startswith("cifar10") else p.stem
    for p in sorted((CONF / "experiment").glob("*.yaml"))
]


def _trained(compose_cfg: Compose, tmp_path: Path, *overrides: str) -> tuple[Path, list[str]]:
    train(compose_cfg(*overrides, "test=false", run_dir=tmp_path / "train"))
    return tmp_path / "train" / "checkpoints" / "last.ckpt", list(overrides)


def test_a_module_without_forward_is_refused(compose_cfg: Compose, tmp_path: Path) -> None:
    """A GAN's generator reads noise, not its batch: there is no inference graph to export."""
    overrides = ["experiment=digits_gan", *data_overrides("digits_gan", tmp_path)]
    ckpt, overrides = _trained(compose_cfg, tmp_path, *overrides)
    cfg = compose_cfg(*overrides, "mode=export", f"ckpt_path={ckpt}", run_dir=tmp_path / "x")
    with pytest.raises(UserError, match=r"GANModule has no forward\(\) over its batch's inputs"):
        export(cfg)


# a recurrent text encoder packs its batch, which no exporter traces (refused: test below)
PACKED = ("text_lstm", "multimodal_digits")


def test_a_packed_recurrent_text_model_is_refused_with_the_fix(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    overrides = ["experiment=text_lstm", *data_overrides("text_lstm", tmp_path)]
    ckpt, overrides = _trained(compose_cfg, tmp_path, *overrides)
    cfg = compose_cfg(*overrides, "mode=export", f"ckpt_path={ckpt}", run_dir=tmp_path / "x")
    with pytest.raises(UserError, match=r"pack_padded_sequence.*Fix: export a text_cnn"):
        export(cfg)


@pytest.mark.parametrize(
    "experiment", [e for e in EXPERIMENTS if e != "digits_gan" and e not in PACKED]
)
def test_every_experiment_exports_and_matches_eager(
    compose_cfg: Compose, tmp_path: Path, experiment: str
) -> None:
    overrides = [f"experiment={experiment}", *data_overrides(experiment, tmp_path)]
    ckpt, overrides = _trained(compose_cfg, tmp_path, *overrides)
    metrics = export(
        compose_cfg(
            *overrides,
            "mode=export",
            f"ckpt_path={ckpt}",
            "export.formats=[onnx,pt2]",
            "export.samples=16",
            run_dir=tmp_path / "export",
        )
    )
    for fmt in ("onnx", "pt2"):
        assert metrics[f"export/{fmt}_scaled_diff"] <= 1e-4
        assert metrics.get(f"export/{fmt}_argmax_agreement", 1.0) == 1.0
    folder = tmp_path / "export" / "export"
    card = json.loads((folder / "model.json").read_text())
    assert card["files"] == {"onnx": "model.onnx", "pt2": "model.pt2"}
    assert card["inputs"][0]["shape"][0] == "batch"
    assert card["source"]["metrics"]["epochs"] == 1  # the source run's metrics.json
    assert (folder / "preprocessing.json").is_file()


def test_the_onnx_file_predicts_raw_inputs_like_mode_predict(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    """The normalisation is in the graph: raw digits pixels in, the same classes out."""
    import onnxruntime as ort
    from sklearn.datasets import load_digits

    from src.experiments.predict import predict

    ckpt, _ = _trained(compose_cfg, tmp_path)
    export(compose_cfg("mode=export", f"ckpt_path={ckpt}", run_dir=tmp_path / "export"))
    predict(
        compose_cfg(
            "mode=predict", f"ckpt_path={ckpt}", "predict.split=all", run_dir=tmp_path / "pred"
        )
    )
    rows = (tmp_path / "pred" / "predictions.csv").read_text().splitlines()[1:]
    predicted = np.array([int(r.split(",")[2]) for r in rows])
    pixels = load_digits().images.astype(np.float32)[:, None]  # (N, 1, 8, 8), 0..16
    session = ort.InferenceSession(str(tmp_path / "export" / "export" / "model.onnx"))
    logits = session.run(None, {"x": pixels})[0]
    assert (logits.argmax(1) == predicted).all()


def test_a_file_that_does_not_match_fails_naming_the_tolerance(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    ckpt, _ = _trained(compose_cfg, tmp_path)
    cfg = compose_cfg("mode=export", f"ckpt_path={ckpt}", "export.tolerance=-1", run_dir=tmp_path)
    with pytest.raises(
        ConfigError, match=r"export.tolerance=-1.0: expected the onnx file to match"
    ):
        export(cfg)


def test_an_unknown_format_is_named(compose_cfg: Compose, tmp_path: Path) -> None:
    ckpt, _ = _trained(compose_cfg, tmp_path)
    cfg = compose_cfg("mode=export", f"ckpt_path={ckpt}", "export.formats=[tflite]")
    with pytest.raises(ConfigError, match=r"export.formats='tflite': expected one of onnx, pt2"):
        export(cfg)


def test_exporting_a_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "mode=export", f"ckpt_path={tmp_path / 'nope.ckpt'}")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "nope.ckpt" in out.stderr + out.stdout


def test_a_failing_dynamo_exporter_falls_back_to_the_torchscript_one(
    compose_cfg: Compose,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import torch

    real = torch.onnx.export

    def dynamo_fails(*args: object, **kwargs: object) -> object:
        if kwargs.get("dynamo"):
            raise RuntimeError("Unsupported: a made-up dynamo failure")
        return real(*args, **kwargs)

    ckpt, _ = _trained(compose_cfg, tmp_path)
    monkeypatch.setattr(torch.onnx, "export", dynamo_fails)
    metrics = export(compose_cfg("mode=export", f"ckpt_path={ckpt}", run_dir=tmp_path / "x"))
    assert "using the TorchScript-based one" in caplog.text
    assert metrics["export/onnx_scaled_diff"] <= 1e-4
    assert metrics["export/onnx_argmax_agreement"] == 1.0
