"""A file that is not a checkpoint of this model fails with one line naming it (no traceback).

The cheap file check (src/config/checkpoint_file.py) runs in validate, before torch is
imported; :func:`src.utils.checkpoints.verify_checkpoint` loads the file and compares it with
the module the run built.
"""

import pickle
import shutil
import subprocess
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning
import pytest
import torch

from src.config.checkpoint_file import check_checkpoint_file
from src.errors import ConfigError, UserError
from src.experiments import build, run
from src.utils.checkpoints import verify_checkpoint
from tests.conftest import DATA_DIR, FAST, ROOT, Compose, compose_config, run_cli


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A run directory of a real (tiny) training run of model=mlp on digits."""
    root = tmp_path_factory.mktemp("mlp_run")
    base = [f"paths.log_dir={root / 'outputs'}", f"paths.data_dir={DATA_DIR}", *FAST]
    cfg = compose_config([*base, "model=mlp", "logger=none", "test=false"], root / "run")
    run(cfg)
    yield root / "run"


def module_of(compose_cfg: Compose, *overrides: str) -> lightning.pytorch.LightningModule:
    return build.module(compose_cfg(*overrides))


def lightning_dict(module: torch.nn.Module, **changes: Any) -> dict[str, Any]:
    """What Lightning writes, reduced to the keys it reads back."""
    checkpoint = {
        "state_dict": module.state_dict(),
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": lightning.__version__,
        "optimizer_states": [],
        "lr_schedulers": [],
    }
    return {k: v for k, v in (checkpoint | changes).items() if v is not None}


def saved(path: Path, obj: Any, **kwargs: Any) -> str:
    torch.save(obj, path, **kwargs)
    return str(path)


def refused(path: str, part: str, module: Any = None, resume: bool = False) -> str:
    with pytest.raises(UserError) as e:
        verify_checkpoint(path, module, resume=resume)
    message = str(e.value)
    assert message.startswith(f"checkpoint '{path}' "), message
    assert part in message and "\n" not in message, message
    return message


# files that are no checkpoint at all: each maker writes one under tmp and returns its path
def _text(tmp: Path) -> str:
    return str(ROOT / "README.md")


def _directory(tmp: Path) -> str:
    return str(tmp)


def _empty(tmp: Path) -> str:
    (tmp / "empty.ckpt").touch()
    return str(tmp / "empty.ckpt")


def _truncated(tmp: Path) -> str:
    data = Path(saved(tmp / "full.ckpt", {"w": torch.zeros(1000)})).read_bytes()
    (tmp / "half.ckpt").write_bytes(data[: len(data) // 2])
    return str(tmp / "half.ckpt")


def _foreign_zip(tmp: Path) -> str:
    with zipfile.ZipFile(tmp / "model.zip", "w") as z:
        z.writestr("weights.txt", "1 2 3")
    return str(tmp / "model.zip")


def _plain_pickle(tmp: Path) -> str:
    (tmp / "p.pkl").write_bytes(pickle.dumps({"a": 1}))
    return str(tmp / "p.pkl")


def _missing(tmp: Path) -> str:
    return str(tmp / "nope.ckpt")


NOT_A_CHECKPOINT = {  # maker, what the message says
    "a text file": (_text, "is a text file (starting '#"),
    "a directory": (_directory, "is a directory"),
    "an empty file": (_empty, "is empty"),
    "a truncated file": (_truncated, "is truncated or damaged"),
    "a zip that is not a torch file": (
        _foreign_zip,
        "is a zip archive, not one torch.save wrote (no <name>/data.pkl in it: weights.txt)",
    ),
    "a pickle of something else": (_plain_pickle, "is a plain Python pickle"),
    "a missing file": (_missing, "does not exist"),
}


@pytest.mark.parametrize("case", NOT_A_CHECKPOINT)
def test_files_that_are_no_checkpoint(tmp_path: Path, case: str) -> None:
    make, part = NOT_A_CHECKPOINT[case]
    path = make(tmp_path)
    refused(path, part)
    with pytest.raises(ConfigError) as e:  # the same, in validate, naming the key
        check_checkpoint_file("resume", path)
    assert str(e.value).startswith(f"resume={path!r}: expected a checkpoint file, but it ")
    assert part in str(e.value)


def test_a_run_directory_points_at_its_last_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    last = tmp_path / "checkpoints" / "last.ckpt"
    message = refused(str(tmp_path), "is a directory")
    assert f"Fix: did you mean {last}?" in message
    assert "did you mean" not in refused(str(last), "is empty")  # not the file itself


def test_the_file_check_does_not_import_torch() -> None:
    code = (
        "import sys; from src.config.checkpoint_file import file_problem\n"
        "assert file_problem('README.md').startswith('is a text file'), file_problem('README.md')\n"
        "assert 'torch' not in sys.modules, 'imported torch'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


class Foreign:
    """Pickled from a module that is gone when the file is loaded."""


def test_torch_files_that_are_no_lightning_checkpoint(
    tmp_path: Path, compose_cfg: Compose, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = module_of(compose_cfg)
    state = module.state_dict()
    refused(
        saved(tmp_path / "x.pt", {"a": 1}), "is not a Lightning checkpoint: it lacks state_dict"
    )
    refused(saved(tmp_path / "sd.pt", state), f"is a bare state_dict ({len(state)} tensors")
    refused(saved(tmp_path / "list.pt", [1, 2]), "holds a list, not a Lightning checkpoint")
    no_state = lightning_dict(module, state_dict=None)
    refused(saved(tmp_path / "nostate.ckpt", no_state), "it lacks state_dict (its keys: epoch")
    plain = {"model": state, "optimizer": {}, "epoch": 3}  # a plain PyTorch training script's
    refused(saved(tmp_path / "plain.pt", plain), "lacks state_dict, global_step, pytorch-light")
    newer = lightning_dict(module, **{"pytorch-lightning_version": "99.0.0"})
    message = refused(saved(tmp_path / "new.ckpt", newer), "written by Lightning 99.0.0, newer")
    assert "Fix: install lightning==99.0.0" in message
    monkeypatch.setattr(Foreign, "__module__", "gone_package.models")  # pickled by reference
    monkeypatch.setitem(sys.modules, "gone_package", types.ModuleType("gone_package"))
    monkeypatch.setitem(sys.modules, "gone_package.models", sys.modules[__name__])
    path = saved(tmp_path / "foreign.pt", {"state_dict": Foreign()})
    monkeypatch.undo()
    message = refused(path, "holds a pickled gone_package.models.Foreign, which torch.load does")
    assert "Fix: if you trust the file, rerun with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1" in message
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # as Lightning would, unpickle
    refused(
        path,
        "was pickled with classes that are not installed here (No module named 'gone_package')",
    )


def test_a_damaged_archive(tmp_path: Path, compose_cfg: Compose) -> None:
    path = Path(saved(tmp_path / "bad.ckpt", lightning_dict(module_of(compose_cfg))))
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("data.pkl"))
    data = bytearray(path.read_bytes())
    header = info.header_offset  # local header: 30 bytes, the name, an extra field, the data
    extra = int.from_bytes(data[header + 28 : header + 30], "little")
    data[header + 30 + len(info.filename) + extra + 2] ^= 0xFF  # data.pkl's first opcode
    path.write_bytes(bytes(data))
    refused(str(path), "is damaged or not a torch checkpoint (torch.load: Unsupported operand")


def test_a_checkpoint_of_this_model_passes(tmp_path: Path, compose_cfg: Compose) -> None:
    module = module_of(compose_cfg)
    checkpoint = verify_checkpoint(saved(tmp_path / "ok.ckpt", lightning_dict(module)), module)
    assert checkpoint["state_dict"].keys() == module.state_dict().keys()
    legacy = saved(tmp_path / "old.ckpt", lightning_dict(module), _use_new_zipfile_serialization=0)
    assert verify_checkpoint(legacy, module, resume=True)["epoch"] == 0
    assert verify_checkpoint(None, module) == {}  # a fresh run
    (tmp_path / "sharded").mkdir()  # FSDP's sharded form: Lightning checks it as it loads it
    (tmp_path / "sharded" / "meta.pt").write_bytes(b"")
    assert verify_checkpoint(tmp_path / "sharded", module) == {}


def test_weights_only_checkpoints_cannot_be_resumed(tmp_path: Path, compose_cfg: Compose) -> None:
    module = module_of(compose_cfg)
    weights = lightning_dict(module, optimizer_states=None, lr_schedulers=None)
    path = saved(tmp_path / "weights.ckpt", weights)
    verify_checkpoint(path, module)  # evaluating it is fine
    refused(path, "holds only the weights (saved with save_weights_only=True)", module, True)


def test_a_real_checkpoint_fits_its_own_config(mlp_run: Path, compose_cfg: Compose) -> None:
    last = mlp_run / "checkpoints" / "last.ckpt"
    module = module_of(compose_cfg, "model=mlp")
    assert verify_checkpoint(last, module, resume=True)["global_step"] == 3


def test_another_model_names_the_tensors(mlp_run: Path, compose_cfg: Compose) -> None:
    path = str(mlp_run / "checkpoints" / "last.ckpt")
    message = refused(
        path, "does not fit the model (ClassificationModule): tensors ", module_of(compose_cfg)
    )
    assert (
        "missing from the checkpoint: net.features.0.weight, net.features.1.weight and " in message
    )
    assert "unexpected: net.layers.1.weight, net.layers.1.bias and " in message
    config = mlp_run.resolve() / "config_resolved.yaml"
    assert (
        f"Fix: use the same model and dataset config as the run that wrote it (see {config})"
        in message
    )


def test_another_dataset_names_the_shapes(mlp_run: Path, compose_cfg: Compose) -> None:
    path = str(mlp_run / "checkpoints" / "last.ckpt")
    module = module_of(compose_cfg, "model=mlp", "dataset=breast_cancer")
    message = refused(path, "tensors 3 of another shape (checkpoint vs model): ", module)
    assert "net.layers.1.weight [128, 64] vs [128, 30]" in message
    assert "missing" not in message


def cli_error(tmp_path: Path, *args: str) -> str:
    """The one line a failing ``python run.py ARGS`` printed (exit code 2, no traceback)."""
    out = run_cli(tmp_path, *args, "print_config=false", f"hydra.run.dir={tmp_path / 'run'}")
    text = out.stdout + out.stderr
    assert out.returncode == 2 and "Traceback" not in text, text
    (line,) = [row for row in text.splitlines() if "[ERROR]" in row]
    return line


def test_cli_eval_of_a_text_file(tmp_path: Path) -> None:
    line = cli_error(tmp_path, "mode=eval", "ckpt_path=README.md")
    assert "ckpt_path='README.md': expected a checkpoint file, but it is a text file" in line


def test_cli_predict_from_a_torch_file_of_something_else(tmp_path: Path) -> None:
    path = saved(tmp_path / "x.pt", {"a": 1})
    line = cli_error(tmp_path, "mode=predict", f"ckpt_path={path}")
    assert f"checkpoint '{path}' is not a Lightning checkpoint: it lacks state_dict" in line


def test_cli_resume_another_models_checkpoint(tmp_path: Path, mlp_run: Path) -> None:
    copy = tmp_path / "elsewhere" / "checkpoints" / "last.ckpt"  # moved: found by its path
    copy.parent.mkdir(parents=True)
    shutil.copy(mlp_run / "checkpoints" / "last.ckpt", copy)
    line = cli_error(tmp_path, "model=cnn", f"resume={copy}")
    assert f"checkpoint '{copy}' does not fit the model (ClassificationModule)" in line
    assert "its config_resolved.yaml, next to checkpoints/" in line
