"""provenance.json and its companions in every run directory; data fingerprints; compare shows
the provenance fields that differ between runs."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import lightning
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from src.callbacks.provenance import DataFingerprint
from src.data import fingerprint
from src.experiments.compare import compare
from src.experiments.train import train
from src.utils import provenance
from src.utils.runs import load_metrics
from tests.conftest import Compose


@pytest.fixture
def trained(compose_cfg: Compose, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    train(compose_cfg("hardware.deterministic=true", "seed=7", run_dir=out))
    return out


def test_a_run_directory_holds_its_provenance(trained: Path) -> None:
    record = json.loads((trained / "provenance.json").read_text())
    assert "hardware.deterministic=true" in record["command"]["overrides"]
    assert record["python"]["version"].count(".") == 2
    assert set(provenance.KEY_LIBRARIES) <= set(record["libraries"])
    assert record["libraries"]["lightning"] == lightning.__version__
    frozen = (trained / "requirements-frozen.txt").read_text().splitlines()
    assert f"lightning=={lightning.__version__}" in frozen and len(frozen) > 20
    machine = record["machine"]
    assert machine["torch_num_threads"] == torch.get_num_threads()
    assert machine["OMP_NUM_THREADS"] == os.environ.get("OMP_NUM_THREADS")
    assert machine["cpu"] and machine["cpu_count"] == os.cpu_count()
    assert record["seeds"]["seed"] == 7 and record["seeds"]["dataset.seed"] == 7
    assert set(record["data"]) == {"train", "val", "test"}
    assert all(len(d) == 16 and int(d, 16) >= 0 for d in record["data"].values())
    git = record["git"]
    assert git["commit"] is not None and len(git["commit"]) == 40
    assert git["dirty"] == (trained / "git.patch").is_file()
    if not torch.cuda.is_available():
        assert record["gpu"] is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_fields(compose_cfg: Compose) -> None:
    gpu = provenance.capture(compose_cfg()).record["gpu"]
    assert gpu["devices"] and gpu["cuda"] == torch.version.cuda
    assert gpu["cudnn"] == torch.backends.cudnn.version() and gpu["driver"]


def test_outside_a_git_checkout_git_is_null(
    compose_cfg: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provenance, "CODE_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    prov = provenance.capture(compose_cfg())
    assert prov.record["git"] is None and prov.patch == ""
    provenance.write(prov, tmp_path / "out")
    assert not (tmp_path / "out" / "git.patch").exists()


def test_uncommitted_changes_are_saved_as_a_patch(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path)

    git("init", "-q", "-b", "main")
    (tmp_path / "model.py").write_text("lr = 0.1\n")
    git("add", "model.py")
    git("commit", "-q", "-m", "first")
    assert provenance.git_state(tmp_path, provenance.git_patch(tmp_path))["dirty"] is False

    (tmp_path / "model.py").write_text("lr = 0.2\n")
    patch = provenance.git_patch(tmp_path)
    state = provenance.git_state(tmp_path, patch)
    assert state["dirty"] is True and state["branch"] == "main" and state["patch"] == "git.patch"
    assert "-lr = 0.1" in patch and "+lr = 0.2" in patch


def test_one_changed_value_changes_the_fingerprint() -> None:
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    same = fingerprint.of_tensors({"x": x.clone(), "target": torch.arange(4)})
    assert same == fingerprint.of_tensors({"x": x, "target": torch.arange(4)})
    x[2, 1] += 1e-3
    assert fingerprint.of_tensors({"x": x, "target": torch.arange(4)}) != same


def test_fingerprinting_runs_once_per_setup_not_per_step() -> None:
    hooks = {
        name
        for name, member in vars(DataFingerprint).items()
        if callable(member) and name in vars(Callback)
    }
    assert hooks == {"setup"}


def test_metrics_json_paths_are_relative_and_old_absolute_ones_are_read(
    trained: Path, tmp_path: Path
) -> None:
    written = json.loads((trained / "metrics.json").read_text())
    assert written["run_dir"] == "." and written["best_checkpoint"].startswith("checkpoints/")
    old = tmp_path / "old"  # a run directory from before: absolute paths
    old.mkdir()
    absolute = {"run_dir": "/gone/run", "best_checkpoint": "/gone/run/checkpoints/e.ckpt"}
    (old / "metrics.json").write_text(json.dumps(absolute | {"val/acc": 0.5}))
    assert load_metrics(old) == {
        "run_dir": ".",
        "best_checkpoint": "checkpoints/e.ckpt",
        "val/acc": 0.5,
    }


def test_compare_shows_a_commit_difference(
    compose_cfg: Compose, trained: Path, tmp_path: Path
) -> None:
    other = tmp_path / "sweep" / "other"
    shutil.copytree(trained, tmp_path / "sweep" / "first")
    shutil.copytree(trained, other)
    record = json.loads((other / "provenance.json").read_text())
    record["git"]["commit"] = "0123456789abcdef" * 2 + "01234567"
    (other / "provenance.json").write_text(json.dumps(record))

    out = tmp_path / "compared"
    compare(compose_cfg("mode=compare", f"compare.runs={tmp_path / 'sweep'}", run_dir=out))

    table = (out / "comparison.md").read_text().splitlines()
    assert "| commit |" in table[0]
    assert any("| 0123456789 |" in row for row in table[2:])
    first = json.loads((trained / "provenance.json").read_text())["git"]["commit"]
    assert any(f"| {first[:10]} |" in row for row in table[2:]), table
    assert "data train" not in table[0]  # the same data: not a column
