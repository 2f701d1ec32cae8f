"""Bad input: each mistake fails with one readable message that names the key (acceptance 9).

Most mistakes are checked in-process (compose + ``src.experiments.run``), a handful through
``python run.py`` to check the exit code and that no traceback reaches the user.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from src.errors import ConfigError, DataError, UserError
from src.experiments import run
from tests.conftest import ROOT, Compose

# mistakes caught while composing (Hydra + the structured schema): (overrides, message parts)
COMPOSE = {
    "typo in a key": (["trainer.max_epoch=3"], ["trainer.max_epoch", "not in 'TrainerSchema'"]),
    "typo in a group member": (["dataset=digitz"], ["dataset/digitz", "digits", "mnist1d"]),
    "text for an integer": (["trainer.max_epochs=abc"], ["trainer.max_epochs", "Integer"]),
    "float for an integer": (["seed=1.5"], ["seed", "Integer"]),
    "unknown mode": (["mode=fit"], ["mode/fit", "predict"]),
    "metrics as a list": (["model.metrics=[acc,f1]"], ["model.metrics=[acc,f1]"]),
    "new key without +": (["model.net.chanels=3"], ["model.net.chanels", "+model.net.chanels"]),
    "text for a boolean": (["print_config=maybe"], ["print_config", "not a valid bool"]),
}

# mistakes caught by src/config/validate.py before anything is built: (overrides, message start)
VALIDATE = {
    "negative learning rate": (["optimizer.lr=-0.1"], "optimizer.lr=-0.1: expected a number > 0"),
    "fraction above 1": (["dataset.val_fraction=1.5"], "dataset.val_fraction=1.5: expected"),
    "zero batch size": (["dataset.batch_size=0"], "dataset.batch_size=0: expected an integer >= 1"),
    "dropout above 1": (["model.net.dropout=1.2"], "model.net.dropout=1.2: expected a number in"),
    "momentum above 1": (["optimizer=sgd", "optimizer.momentum=1.5"], "optimizer.momentum=1.5"),
    "zero epochs": (["trainer.max_epochs=0"], "trainer.max_epochs=0: expected an integer >= 1"),
    "negative batch limit": (["trainer.limit_train_batches=-1"], "trainer.limit_train_batches=-1"),
    "unknown normalisation": (["dataset.normalize=zscore"], "dataset.normalize='zscore': expected"),
    "unknown init scheme": (["model.init=he"], "model.init='he': expected one of default, normal"),
    "metric without split": (["optimized_metric=acc"], "optimized_metric='acc': expected"),
    "metric without a _target_": (
        ["+model.metrics.top5={top_k:5}"],
        "model.metrics={'acc':",
    ),
    "unknown train metric": (
        ["model.train_metrics=[acc,top5]"],
        "model.train_metrics=['acc', 'top5']: expected names of model.metrics",
    ),
    "optimised metric not computed": (
        ["~model.metrics.f1", "optimized_metric=val/f1"],
        "optimized_metric='val/f1': expected a metric the model computes",
    ),
    "objective direction": (["optimized_mode=maximize"], "optimized_mode='maximize': expected"),
    "monitor without split": (["scheduler=plateau", "scheduler.monitor=loss"], "scheduler.monitor"),
    "missing checkpoint": (
        ["ckpt_path=/nonexistent/last.ckpt"],
        "ckpt_path='/nonexistent/last.ckpt'",
    ),
    "missing resume file": (["resume=/nonexistent/last.ckpt"], "resume='/nonexistent/last.ckpt'"),
    "eval without checkpoint": (
        ["mode=eval"],
        "ckpt_path=None: expected a checkpoint file in mode",
    ),
    "unknown predict split": (
        ["mode=predict", "predict.split=dev"],
        "predict.split='dev': expected one of train",
    ),
    "unimportable _target_": (
        ["model.net._target_=src.networks.nope.Net"],
        "model.net._target_='src.networks.nope.Net': expected an importable",
    ),
    "init over pretrained weights": (
        ["model=resnet18", "model.net.pretrained=true", "model.init=kaiming"],
        "model.init='kaiming': expected default when model.net loads pretrained weights",
    ),
}

# mistakes found while building or loading (torch imported): (overrides, error type, message part)
BUILD = {
    "resume=latest with no earlier run": (["resume=latest"], ConfigError, "resume='latest'"),
    "unknown optimizer class": (
        ["optimizer._target_=torch.optim.Adamm"],
        UserError,
        "model.optimizer: could not be built: Error locating target 'torch.optim.Adamm'",
    ),
    "unknown constructor key": (
        ["+model.net.chanels=3"],
        ConfigError,
        "model.net.chanels=3: expected an argument of src.networks.cnn.LeNet",
    ),
    "unknown network class": (
        ["model.net._target_=src.networks.cnn.LeNett"],
        UserError,
        "model.net: could not be built: Error locating target 'src.networks.cnn.LeNett'",
    ),
    "input shape unlike the data": (
        ["dataset.input_shape=[1,28,28]"],
        ConfigError,
        "dataset.input_shape=[1, 28, 28]: expected the loaded data's sample shape [1, 8, 8]",
    ),
    "too few classes": (["dataset.num_classes=5"], ConfigError, "dataset.num_classes=5"),
    "image network on signals": (
        ["model=cnn", "dataset=mnist1d"],
        ConfigError,
        "model.net.input_shape=[1, 40]: expected (C, H, W) images",
    ),
    "class weights on a loss without them": (
        ["model.class_weighting=balanced", "model.loss={_target_:torch.nn.MSELoss}"],
        ConfigError,
        "model.class_weighting='balanced'",
    ),
    "warm-up before plateau": (
        ["scheduler=plateau", "+scheduler.warmup=2"],
        ConfigError,
        "scheduler.warmup=2: expected 0 with ReduceLROnPlateau",
    ),
    "missing weights file": (
        ["model=resnet18", "model.net.weights_path=/nonexistent/resnet18.pth"],
        ConfigError,
        "model.net.weights_path='/nonexistent/resnet18.pth': expected an existing",
    ),
}

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")


def _message(e: BaseException) -> str:
    """Hydra's message with its causes, as the CLI prints it."""
    parts = []
    while e is not None:
        parts.append(str(e))
        e = e.__cause__  # type: ignore[assignment]
    return "\n".join(parts)


@pytest.mark.parametrize("case", COMPOSE)
def test_composition_errors_name_the_key(compose_cfg: Compose, case: str) -> None:
    overrides, parts = COMPOSE[case]
    with pytest.raises((HydraException, OmegaConfBaseException)) as e:
        compose_cfg(*overrides)
    message = _message(e.value)
    for part in parts:
        assert part in message


@pytest.mark.parametrize("case", VALIDATE)
def test_validation_errors_name_key_and_value(compose_cfg: Compose, case: str) -> None:
    overrides, start = VALIDATE[case]
    with pytest.raises(ConfigError) as e:
        run(compose_cfg(*overrides))
    assert str(e.value).startswith(start) and "\n" not in str(e.value)


@pytest.mark.parametrize("case", BUILD)
def test_build_errors_name_the_key(compose_cfg: Compose, case: str) -> None:
    overrides, kind, part = BUILD[case]
    with pytest.raises(kind) as e:
        run(compose_cfg(*overrides))
    assert part in str(e.value) and "\n" not in str(e.value)


def test_missing_data_offline_names_the_folder(compose_cfg: Compose, tmp_path: Path) -> None:
    empty = tmp_path / "nodata"
    cfg = compose_cfg("dataset=mnist", "dataset.source.download=false", f"paths.data_dir={empty}")
    with pytest.raises(DataError) as e:
        run(cfg)
    assert f"{empty}/MNIST/raw/ lacks train-images-idx3-ubyte" in str(e.value)


@NO_CUDA
@pytest.mark.parametrize(
    ("overrides", "start"),
    [
        (["hardware=gpu"], "hardware.accelerator='gpu': expected a visible CUDA GPU"),
        (["hardware.precision=16-mixed"], "hardware.precision='16-mixed': expected a precision"),
    ],
)
def test_gpu_settings_on_a_cpu_machine(
    compose_cfg: Compose, overrides: list[str], start: str
) -> None:
    with pytest.raises(ConfigError) as e:
        run(compose_cfg(*overrides))
    assert str(e.value).startswith(start)


def cli(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    args = [f"hydra.run.dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path / 'outputs'}"]
    return subprocess.run(
        [sys.executable, "run.py", *args, *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )


@pytest.mark.parametrize(
    ("overrides", "code", "line"),
    [
        (["trainer.max_epoch=3"], 1, "Key 'max_epoch' not in 'TrainerSchema'"),
        (["dataset=digitz"], 1, "Could not find 'dataset/digitz'"),
        (["optimizer.lr=-1"], 2, "optimizer.lr=-1: expected a number > 0. Fix: e.g. optimizer.lr="),
        (["mode=eval"], 2, "ckpt_path=None: expected a checkpoint file in mode=eval."),
        (["resume=latest"], 2, "resume='latest': expected an earlier run of 'digits_cnn'"),
        (["mode=reproduce"], 2, "reproduce.run='???': expected a value"),
        # Lightning's own check, inside fit: 0.1 of the 4 validation batches is < 1 batch
        (
            ["trainer.limit_val_batches=0.1", "trainer.limit_train_batches=2"],
            2,
            "trainer.limit_val_batches=0.1: expected a value Lightning accepts (Lightning: You "
            "requested to check 0.1 of the `val_dataloader` but 0.1 * 4 < 1. Please increase the "
            "`limit_val_batches` argument. Try at least `limit_val_batches=0.25`). Fix: set "
            "trainer.limit_val_batches=0.25",
        ),
    ],
)
def test_cli_prints_one_message_without_traceback(
    tmp_path: Path, overrides: list[str], code: int, line: str
) -> None:
    out = cli(tmp_path, *overrides)
    text = out.stdout + out.stderr
    assert out.returncode == code, text
    assert "Traceback" not in text
    assert sum(line in row for row in text.splitlines()) == 1, text  # once, on one line


def test_cli_missing_data_offline(tmp_path: Path) -> None:
    empty = tmp_path / "nodata"
    out = cli(tmp_path, "dataset=mnist", "dataset.source.download=false", f"paths.data_dir={empty}")
    text = out.stdout + out.stderr
    assert out.returncode == 2 and "Traceback" not in text, text
    rows = [row for row in text.splitlines() if "MNIST/raw/ lacks" in row]
    assert len(rows) == 1 and "Offline, put the files there" in rows[0], text
