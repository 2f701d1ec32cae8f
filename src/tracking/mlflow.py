"""MLflow glue: Lightning's ``MLFlowLogger`` with the session's run identity and config.

The run is named like the W&B run, tagged with the job type, sweep group and git state, gets the
resolved config as (flattened) params and ends FINISHED or FAILED with the job.
"""

from typing import Any, Literal

from lightning.pytorch.loggers import MLFlowLogger as _LightningMLFlowLogger
from lightning.pytorch.utilities import rank_zero_only

from src import tracking
from src.utils.checkpoint_io import UploadsWrittenCheckpoints


class MLFlowLogger(UploadsWrittenCheckpoints, _LightningMLFlowLogger):
    """Lightning's MLflow logger that takes its identity from the current tracking session.

    Args:
        experiment_name: MLflow experiment (one per ``name`` by default).
        run_name: None = the session's run name (``<job num>-<overrides>`` in a multirun).
        save_dir: a folder store, used when ``tracking_uri`` is None (MLflow 3 wants
            ``MLFLOW_ALLOW_FILE_STORE=true`` for that; the config uses SQLite instead).
        tracking_uri: a tracking server or database URI, e.g. ``sqlite:///outputs/mlflow.db``.
        tags: extra run tags.
        log_model: log checkpoints as artifacts (``true`` at the end, ``all`` at every save).
    """

    def __init__(
        self,
        experiment_name: str = "hydralit",
        run_name: str | None = None,
        save_dir: str = "./mlruns",
        tracking_uri: str | None = None,
        tags: dict[str, Any] | None = None,
        log_model: Literal[True, False, "all"] = False,
    ) -> None:
        session = tracking.current()
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if session:
            all_tags |= {
                "job_type": session.job_type,
                "group": str(session.group or ""),
                "git_commit": str(session.info["git_commit"]),
                "git_dirty": str(session.info["git_dirty"]),
                "output_dir": str(session.info["output_dir"]),
            }
        super().__init__(
            experiment_name=experiment_name,
            run_name=run_name or (session.name if session else None),
            tracking_uri=tracking_uri,
            tags=all_tags,
            save_dir=save_dir,
            log_model=log_model,
        )
        self._config = session.config if session else None
        if session:
            session.on_close(self.close)

    @rank_zero_only
    def close(self, outcome: tracking.JobOutcome) -> None:
        """Config as params, then the run's status: FINISHED, or FAILED when the job failed."""
        if not self._initialized:
            return  # nothing was logged, so no MLflow run exists
        if self._config is not None:
            self.log_hyperparams(self._config)
        status = "FINISHED" if outcome.exit_code == 0 else "FAILED"
        self.experiment.set_terminated(self.run_id, status)
