"""MLflow and TensorBoard members: what a user opens afterwards holds the run."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.callbacks.alerts import AlertError
from src.experiments import run
from tests.conftest import Compose


@pytest.mark.slow
def test_mlflow_and_tensorboard_record_runs_and_failures(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    ok = compose_cfg("logger=[mlflow,tensorboard]", "trainer.max_epochs=2", run_dir=tmp_path / "a")
    run(ok)
    bad = compose_cfg(
        "logger=[mlflow,tensorboard]",
        "callbacks.alerts.rules=[{metric: val/acc, above: -1, action: fail}]",
        run_dir=tmp_path / "b",
    )
    with pytest.raises(AlertError):
        run(bad)

    client = MlflowClient(ok.logger.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name("digits_cnn")  # one experiment per `name`
    assert experiment is not None
    runs = {r.data.tags["output_dir"]: r for r in client.search_runs([experiment.experiment_id])}
    good, failed = runs[str(tmp_path / "a")], runs[str(tmp_path / "b")]
    assert good.info.status == "FINISHED" and failed.info.status == "FAILED"
    assert good.data.params["optimizer/lr"] == str(ok.optimizer.lr)
    assert good.data.tags["job_type"] == "train" and len(good.data.tags["git_commit"]) == 40
    assert good.info.run_name.startswith("digits_cnn-")
    assert {"val/acc", "train/grad_norm_epoch", "perf/samples_per_sec"} <= set(good.data.metrics)

    events = EventAccumulator(str(tmp_path / "a" / "tensorboard"))
    events.Reload()
    val_acc = events.Scalars("val/acc")
    assert len(val_acc) == 3  # two epochs, then the best checkpoint's validation
