"""mode=compare on a real 4-job multirun: the table, its order, and the two PNGs."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest

from src.errors import ConfigError, UserError
from src.experiments import run
from tests.conftest import DATA_DIR, FAST, ROOT, Compose, run_py_importing_none_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """outputs of `python run.py -m optimizer.lr=0.001,0.01 model.net.dropout=0.0,0.3` (4 jobs)."""
    sweep_dir = tmp_path_factory.mktemp("compare") / "sweep"
    out = subprocess.run(
        [
            sys.executable,
            "run.py",
            "-m",
            "optimizer.lr=0.001,0.01",
            "model.net.dropout=0.0,0.3",
            f"hydra.sweep.dir={sweep_dir}",
            f"paths.data_dir={DATA_DIR}",
            *FAST,
            "trainer.max_epochs=3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return sweep_dir


def pixels(image: np.ndarray, colour: str) -> int:
    """How many pixels of ``image`` (RGBA floats) have ``colour``."""
    rgb = np.array(matplotlib.colors.to_rgb(colour))
    return int((np.abs(image[..., :3] - rgb).max(-1) < 0.02).sum())


def final(sweep: Path, job: str) -> dict:
    return json.loads((sweep / job / "metrics.json").read_text())


def test_table_ranks_every_job_by_the_metric(sweep: Path, compose_cfg: Compose) -> None:
    cfg = compose_cfg("mode=compare", f"compare.runs={sweep}")
    result = run(cfg)
    out = Path(cfg.paths.output_dir)
    assert result is None  # nothing to optimise in compare mode

    with (out / "comparison.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    # only the params that vary; the FAST overrides are the same in every job
    assert list(rows[0])[:4] == ["rank", "run", "optimizer.lr", "model.net.dropout"]
    assert "trainer.max_epochs" not in rows[0]
    assert {(r["optimizer.lr"], r["model.net.dropout"]) for r in rows} == {
        ("0.001", "0.0"),
        ("0.001", "0.3"),
        ("0.01", "0.0"),
        ("0.01", "0.3"),
    }
    for r in rows:  # every metric of metrics.json, unrounded, in the CSV
        m = final(sweep, r["run"])
        assert float(r["val/acc"]) == m["val/acc"] and float(r["test/f1"]) == m["test/f1"]
    accs = [float(r["val/acc"]) for r in rows]
    assert accs == sorted(accs, reverse=True)
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]

    md = (out / "comparison.md").read_text().splitlines()
    assert md[0] == (
        "| rank | run | optimizer.lr | model.net.dropout | val/acc | val/loss | test/acc "
        "| test/loss |"
    )
    assert len(md) == 2 + 4 and md[2].startswith(f"| 1 | {rows[0]['run']} |")

    curves = matplotlib.image.imread(out / "comparison_curves.png")
    scatter = matplotlib.image.imread(out / "comparison_scatter.png")
    # two panels each (val/loss + val/acc; lr + dropout) at 110 dpi
    assert curves.shape[1] == 1100 and scatter.shape[1] == 990
    # one line per run in matplotlib's first four colours; the scatter's points in the first
    assert all(pixels(curves, c) > 200 for c in ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"))
    assert pixels(scatter, "#1f77b4") > 200 and pixels(scatter, "#d62728") == 0


def test_sort_by_a_loss_puts_the_lowest_first(sweep: Path, compose_cfg: Compose) -> None:
    cfg = compose_cfg("mode=compare", f"compare.runs={sweep}/*", "compare.sort_by=val/loss")
    run(cfg)
    with (Path(cfg.paths.output_dir) / "comparison.csv").open() as f:
        losses = [float(r["val/loss"]) for r in csv.DictReader(f)]
    assert len(losses) == 4 and losses == sorted(losses)


def test_run_without_metrics_is_one_clear_error(
    sweep: Path, compose_cfg: Compose, tmp_path: Path
) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy, ignore=shutil.ignore_patterns("*.ckpt"))
    (copy / "2" / "metrics.json").unlink()  # as if job 2 crashed
    cfg = compose_cfg("mode=compare", f"compare.runs={copy}")
    with pytest.raises(UserError, match=r"2: run directory without metrics.json"):
        run(cfg)
    cfg = compose_cfg("mode=compare", f"compare.runs={copy}", "compare.skip_unfinished=true")
    run(cfg)
    with (Path(cfg.paths.output_dir) / "comparison.csv").open() as f:
        assert sorted(r["run"] for r in csv.DictReader(f)) == ["0", "1", "3"]


def test_glob_matching_nothing_fails_before_anything(compose_cfg: Compose, tmp_path) -> None:
    cfg = compose_cfg("mode=compare", f"compare.runs={tmp_path}/nothing/**/here")
    with pytest.raises(ConfigError) as e:
        run(cfg)
    assert e.value.key == "compare.runs"
    assert not Path(cfg.paths.output_dir).exists()


def test_folder_without_runs_and_unknown_metric(sweep: Path, compose_cfg: Compose) -> None:
    cfg = compose_cfg("mode=compare", f"compare.runs={sweep}/0/checkpoints")
    with pytest.raises(UserError, match="no finished run"):
        run(cfg)
    cfg = compose_cfg("mode=compare", f"compare.runs={sweep}", "compare.sort_by=val/bleu")
    with pytest.raises(ConfigError, match=r"compare\.sort_by='val/bleu'.*val/acc"):
        run(cfg)


def test_cli_compare_does_not_import_torch(sweep: Path, tmp_path: Path) -> None:
    argv = ["mode=compare", f"compare.runs={sweep}", f"hydra.run.dir={tmp_path / 'cmp'}"]
    out = run_py_importing_none_of(argv, ("torch",))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "4 runs, highest val/acc first" in out.stdout
    assert (tmp_path / "cmp" / "comparison.md").is_file()
