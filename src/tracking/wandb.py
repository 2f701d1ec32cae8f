"""Weights & Biases glue: Lightning's ``WandbLogger`` with this framework's run identity.

Built from ``conf/logger/wandb.yaml`` inside :func:`src.tracking.session`, it

* runs offline unless the user configured W&B (``WANDB_API_KEY``, a ``wandb login`` entry in
  ``~/.netrc``, ``WANDB_MODE`` or ``logger.wandb.mode``): nothing reaches the network by accident;
* names the run ``<job num>-<overrides>``, groups every job of a multirun under the sweep or
  Optuna study name and sets ``job_type`` (train, eval, sweep-trial);
* logs the fully resolved config plus ``run_info`` (git commit, dirty flag, output directory,
  overrides) when the run starts;
* when the job ends: writes the final metrics as summary values, the run's PNG plots as media,
  and calls ``finish`` with exit code 1 if the job failed (W&B then shows the run as failed).

Only global rank 0 ever creates a W&B run: Lightning's logger hands the other ranks a dummy.
"""

import logging
import netrc
import os
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_only

from src import tracking
from src.utils.checkpoint_io import UploadsWrittenCheckpoints

log = logging.getLogger(__name__)

# modes in which nothing is uploaded, so checkpoint artifacts would only copy files locally
_LOCAL_MODES = ("offline", "dryrun", "disabled")


def has_credentials(base_url: str | None = None) -> bool:
    """Whether W&B could log in without asking: an API key in the environment or ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = (base_url or os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").split("://")[-1]
    path = Path(os.environ.get("NETRC", "~/.netrc")).expanduser()
    if not path.is_file():
        return False
    try:
        return netrc.netrc(path).authenticators(host.rstrip("/")) is not None
    except (netrc.NetrcParseError, OSError) as e:
        log.warning("could not read %s (%s); W&B runs offline", path, e)
        return False


def resolve_mode(mode: str | None) -> str:
    """``mode`` if set, else ``WANDB_MODE`` if set, else online with credentials, else offline."""
    if mode:
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if has_credentials() else "offline"


class WandbLogger(UploadsWrittenCheckpoints, _LightningWandbLogger):
    """Lightning's W&B logger that takes its identity from the current tracking session.

    Args:
        project: W&B project (letters, digits, ``-_.``; checked by ``src.config.validate``).
        entity: team or user; None = the account's default.
        save_dir: the ``wandb/`` folder goes here (the run directory).
        name: run name; None = ``<job num>-<overrides>`` (multirun) or ``<name>-<overrides>``.
        group: None = the sweep or study name in a multirun, no group for a single run.
        job_type: None = ``train``, ``eval`` or ``sweep-trial``.
        tags: W&B tags.
        notes: free text shown on the run page.
        mode: ``online``, ``offline`` or ``disabled``; None = see :func:`resolve_mode`.
        log_model: upload checkpoints as artifacts (``true``: at the end, ``all``: every save);
            ignored unless the run is online.
        watch: ``gradients``, ``parameters`` or ``all`` to ``wandb.watch`` the model; None = off.
        watch_log_freq: steps between watched histograms.
        **kwargs: passed on to ``wandb.init``.
    """

    def __init__(
        self,
        project: str = "hydralit",
        entity: str | None = None,
        save_dir: str = ".",
        name: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        mode: str | None = None,
        log_model: Literal["all"] | bool = False,
        watch: str | None = None,
        watch_log_freq: int = 100,
        **kwargs: Any,
    ) -> None:
        session = tracking.current()
        mode = resolve_mode(mode)
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(
            name=name or (session.name if session else None),
            save_dir=save_dir,
            project=project,
            log_model=log_model if mode not in _LOCAL_MODES else False,
            entity=entity,
            group=group or (session.group if session else None),
            job_type=job_type or (session.job_type if session else None),
            tags=list(tags) if tags is not None else (session.tags if session else None),
            notes=notes,
            # only rank 0 creates a run: the other ranks need not resolve the config
            config=session.config if session and _rank() == 0 else None,
            mode=mode,
            **kwargs,
        )
        self._watch, self._watch_log_freq = watch, watch_log_freq
        self._output_dir = Path(session.info["output_dir"]) if session else Path(save_dir)
        self._trial_number = session.trial_number if session else None
        if session:
            session.on_close(self.close)

    @rank_zero_only
    def log_graph(self, model: torch.nn.Module, input_array: torch.Tensor | None = None) -> None:
        # Lightning calls this once per fit with the module: the moment to start watching it
        if self._watch:
            self.watch(model, log=self._watch, log_freq=self._watch_log_freq, log_graph=False)

    @rank_zero_only
    def close(self, outcome: tracking.JobOutcome) -> None:
        """Summary values, plots as media, then ``finish`` with the job's exit code."""
        if self._experiment is None:
            return  # the job failed before anything was logged: no run was created
        run, exit_code = self.experiment, outcome.exit_code
        try:
            run.summary.update(summary_values(outcome.metrics))
            if self._trial_number is not None:
                run.summary.update({"optuna/trial_number": self._trial_number})
                run.summary.update({"optuna/state": outcome.state})
            self.log_plots()
        except BaseException:
            exit_code = 1  # the job fails with this error, so must its W&B run
            raise
        finally:
            run.finish(exit_code=exit_code)  # always: an unfinished run swallows the next job's
            self._experiment = None  # a later use of this logger must not log into a finished run

    def log_plots(self) -> None:
        """Every PNG in the run directory (curves, confusion matrix, ROC, ...) as an image."""
        import wandb

        images = {
            f"plots/{p.stem}": wandb.Image(str(p)) for p in sorted(self._output_dir.glob("*.png"))
        }
        if images:
            self.experiment.log(images)


def summary_values(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers and strings of ``metrics`` (None entries, e.g. no best checkpoint, left out)."""
    return {k: v for k, v in metrics.items() if isinstance(v, str | int | float)}


def _rank() -> int:
    return int(getattr(rank_zero_only, "rank", 0))
