"""mode=reproduce: a run rerun from its directory gives the same metrics.json (CPU,
deterministic), says how its data changed, and names what is wrong with a bad directory."""

import json
import shutil
from pathlib import Path

import pytest

from src.errors import ConfigError, UserError
from src.experiments import run
from src.experiments.reproduce import reproduce
from src.utils import report
from tests.conftest import Compose
from tests.data.fakes import classification_rows, write_csv

DETERMINISTIC = "hardware.deterministic=true"
CSV = ["experiment=csv_classification", "dataset.target=label", DETERMINISTIC]


def test_rerun_from_its_directory_has_identical_metrics(
    compose_cfg: Compose, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original, again = tmp_path / "original", tmp_path / "again"
    run(compose_cfg(DETERMINISTIC, run_dir=original))
    capsys.readouterr()

    result = reproduce(compose_cfg("mode=reproduce", f"reproduce.run={original}", run_dir=again))

    before = json.loads((original / "metrics.json").read_text())
    after = json.loads((again / "metrics.json").read_text())
    assert after == before  # every value, and the paths (relative to each run) too
    assert result["metrics_differing"] == 0
    out = capsys.readouterr().out
    assert f"provenance of {original} and of this rerun: identical" in out
    assert f"final metrics of {original} and of this rerun: identical" in out
    # the rerun wrote into its own directory and is itself a run that can be reproduced
    assert (again / "checkpoints" / "last.ckpt").is_file()
    assert (again / "provenance.json").is_file() and (again / "config_resolved.yaml").is_file()
    assert not list(original.glob("reproduction.json"))
    reproduction = json.loads((again / "reproduction.json").read_text())
    assert reproduction["metric_differences"] == {}
    assert reproduction["original"] == str(original)


def test_edited_data_file_is_reported_before_the_rerun_starts(
    compose_cfg: Compose, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header, rows = classification_rows(120)
    path = write_csv(tmp_path / "table.csv", header, rows)
    original = tmp_path / "original"
    run(compose_cfg(*CSV, f"dataset.path={path}", run_dir=original))
    digests = json.loads((original / "provenance.json").read_text())["data"]
    rows[7][1] = float(rows[7][1]) + 1.0  # one weight of one row
    write_csv(path, header, rows)
    capsys.readouterr()

    result = reproduce(
        compose_cfg(*CSV, "mode=reproduce", f"reproduce.run={original}", run_dir=tmp_path / "b")
    )

    out = capsys.readouterr().out
    changed = [line.strip() for line in out.splitlines() if line.strip().startswith("data ")]
    assert changed, out
    split = changed[0].split(":")[0].removeprefix("data ")
    assert (
        changed[0]
        == f"data {split}: {digests[split]} -> "
        + json.loads((tmp_path / "b" / "provenance.json").read_text())["data"][split]
    )
    # printed before the rerun trains (its final metrics table comes after)
    assert out.index(changed[0]) < out.index("final metrics")
    assert result["provenance_differing"] >= 1


def test_a_directory_that_is_not_a_run(compose_cfg: Compose, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for folder, problem in [("empty", "no config_resolved.yaml in it"), ("gone", "no such dir")]:
        with pytest.raises(ConfigError) as e:
            run(compose_cfg("mode=reproduce", f"reproduce.run={tmp_path / folder}"))
        assert e.value.key == "reproduce.run" and problem in str(e.value)
        assert "Fix: give a folder such as outputs/<name>/<time>" in str(e.value)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (("  max_epochs:", "  max_epochz:"), "trainer.max_epochz"),  # a key renamed since
        (("src.networks.cnn.LeNet", "src.networks.gone.LeNet"), "model.net._target_"),
    ],
)
def test_a_run_whose_config_no_longer_composes_names_the_key(
    compose_cfg: Compose, tmp_path: Path, edit: tuple[str, str], key: str
) -> None:
    old = tmp_path / "old"
    config = report.save_config(compose_cfg(run_dir=old), old)  # what a run leaves first
    text = config.read_text()
    assert edit[0] in text
    config.write_text(text.replace(edit[0], edit[1]))
    with pytest.raises(ConfigError) as e:
        run(compose_cfg("mode=reproduce", f"reproduce.run={old}"))
    assert e.value.key == key, str(e.value)


def test_a_run_whose_data_is_gone(compose_cfg: Compose, tmp_path: Path) -> None:
    header, rows = classification_rows(60)
    path = write_csv(tmp_path / "table.csv", header, rows)
    old = tmp_path / "old"
    report.save_config(compose_cfg(*CSV, f"dataset.path={path}", run_dir=old), old)
    path.unlink()
    with pytest.raises(UserError) as e:
        run(compose_cfg("mode=reproduce", f"reproduce.run={old}"))
    message = str(e.value)
    assert message.startswith(f"reproduce.run='{old}': the run's data cannot be loaded any more")
    assert str(path) in message and "restore them" in message


@pytest.mark.slow
def test_a_moved_run_directory_evaluates_predicts_resumes_and_compares(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    from src.experiments.compare import compare
    from src.experiments.evaluate import evaluate
    from src.experiments.predict import predict
    from src.experiments.train import train
    from src.utils.runs import load_metrics, resolve_path

    trained = train(compose_cfg(DETERMINISTIC, run_dir=tmp_path / "first"))
    moved = tmp_path / "elsewhere" / "run"
    shutil.move(tmp_path / "first", moved)
    recorded = load_metrics(moved)
    assert recorded["run_dir"] == "." and not Path(recorded["best_checkpoint"]).is_absolute()
    best = resolve_path(moved, recorded["best_checkpoint"])
    assert best.is_file()

    evaluated = evaluate(compose_cfg("mode=eval", f"ckpt_path={best}", run_dir=tmp_path / "ev"))
    assert evaluated["test/acc"] == trained["test/acc"]
    predicted = predict(compose_cfg("mode=predict", f"ckpt_path={best}", run_dir=tmp_path / "pr"))
    assert predicted["rows"] > 0 and Path(predicted["predictions"]).is_file()
    last = moved / "checkpoints" / "last.ckpt"
    resumed = train(
        compose_cfg(f"ckpt_path={last}", "trainer.max_epochs=2", run_dir=tmp_path / "resumed")
    )
    assert resumed["epochs"] == 2 and resumed["global_step"] == 2 * trained["global_step"]
    compared = compare(compose_cfg("mode=compare", f"compare.runs={moved}", run_dir=tmp_path / "c"))
    assert compared["best/val/acc"] == trained["val/acc"]
    again = reproduce(
        compose_cfg("mode=reproduce", f"reproduce.run={moved}", run_dir=tmp_path / "again")
    )
    assert again["metrics_differing"] == 0


def test_an_evaluation_is_reproduced_with_its_checkpoint(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    run(compose_cfg(DETERMINISTIC, run_dir=tmp_path / "fit"))
    ckpt = tmp_path / "fit" / "checkpoints" / "last.ckpt"
    run(compose_cfg(DETERMINISTIC, "mode=eval", f"ckpt_path={ckpt}", run_dir=tmp_path / "ev"))
    recorded = json.loads((tmp_path / "ev" / "provenance.json").read_text())["data"]

    again = reproduce(
        compose_cfg("mode=reproduce", f"reproduce.run={tmp_path / 'ev'}", run_dir=tmp_path / "b")
    )

    assert again["metrics_differing"] == again["provenance_differing"] == 0
    assert json.loads((tmp_path / "b" / "provenance.json").read_text())["data"] == recorded
    before = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert json.loads((tmp_path / "b" / "metrics.json").read_text()) == before
