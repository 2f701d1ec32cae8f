"""Experiment tracking: who a run is (name, group, job type) and how it ends.

``run()`` wraps every entry in :func:`session`. Loggers built inside it (see
:mod:`src.tracking.wandb`, :mod:`src.tracking.mlflow`) take their run identity and the resolved
config from :func:`current`, and register a closer that the session calls exactly once when the
job ends: with the final metrics and exit code 0 on success, exit code 1 on any exception. That
one exit path is what keeps the jobs of an in-process multirun from merging into one W&B run
and marks failed jobs failed. Nothing here imports torch or a tracking client.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from src.utils import provenance

log = logging.getLogger(__name__)

# W&B limits display names and groups to 128 characters
_MAX_NAME = 128


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended, handed to every registered closer."""

    metrics: dict[str, Any]
    exit_code: int  # 0 success, 1 failure (W&B marks a run with exit code != 0 as failed)
    state: str  # COMPLETE | FAIL | PRUNED (Optuna's trial states)


Closer = Callable[[JobOutcome], None]


@dataclass
class Session:
    """One job's tracking context: identity, resolved config, and the closers to call at exit."""

    cfg: DictConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    closers: list[Closer] = field(default_factory=list)

    def on_close(self, closer: Closer) -> None:
        self.closers.append(closer)

    def record(self, metrics: dict[str, Any]) -> None:
        """The job's final metrics; closers write them as summary values."""
        self.metrics = dict(metrics)

    @cached_property
    def multirun(self) -> bool:
        return _hydra_select("mode") == RunMode.MULTIRUN

    @cached_property
    def job_type(self) -> str:
        mode = str(self.cfg.mode.name)
        return "sweep-trial" if self.multirun and mode == "train" else mode

    @cached_property
    def group(self) -> str | None:
        """Shared by every job of a multirun: the Optuna study name, else the sweep folder."""
        if not self.multirun:
            return None
        study = OmegaConf.select(self.cfg, "optuna.study_name", default=None) or _hydra_select(
            "sweeper.study_name"
        )
        if study:
            return str(study)[:_MAX_NAME]
        sweep_dir = Path(str(_hydra_select("sweep.dir") or "sweep"))
        return f"{self.cfg.name}-{sweep_dir.name}"[:_MAX_NAME]

    @cached_property
    def name(self) -> str:
        """``<job num>-<overrides>`` in a multirun, ``<name>[-<overrides>]`` otherwise."""
        overrides = str(_hydra_select("job.override_dirname") or "")
        if self.multirun:
            return f"{_hydra_select('job.num')}-{overrides}".rstrip("-")[:_MAX_NAME]
        return f"{self.cfg.name}-{overrides}".rstrip("-")[:_MAX_NAME]

    @cached_property
    def trial_number(self) -> int | None:
        number = OmegaConf.select(self.cfg, "optuna.trial_number", default=None)
        return None if number is None else int(number)

    @cached_property
    def info(self) -> dict[str, Any]:
        """Where and from what code the run came: logged beside the config as ``run_info``."""
        git = provenance.git_state(Path(str(self.cfg.paths.root_dir)), patch="") or {}
        info = {
            "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"),
            "output_dir": str(Path(str(self.cfg.paths.output_dir)).resolve()),
            "overrides": list(_hydra_select("overrides.task") or []),
            "job_num": _hydra_select("job.num"),
        }
        if self.trial_number is not None:
            info["optuna_trial"] = self.trial_number
        return info

    @cached_property
    def config(self) -> dict[str, Any]:
        """The fully resolved config as plain Python, plus ``run_info``."""
        resolved = OmegaConf.to_container(self.cfg, resolve=True, enum_to_str=True)
        assert isinstance(resolved, dict)
        return {**resolved, "run_info": self.info}

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.cfg.get("tags") or []]

    def close(self, outcome: JobOutcome) -> None:
        """Call every closer once, even if one fails; then raise the first failure."""
        closers, self.closers = self.closers, []
        errors = []
        for closer in closers:
            try:
                closer(outcome)
            except Exception as e:
                log.exception("closing a tracking run failed")
                errors.append(e)
        if errors:
            raise errors[0]


_current: Session | None = None


def current() -> Session | None:
    """The session of the job running in this process, None outside :func:`session`."""
    return _current


@contextmanager
def session(cfg: DictConfig) -> Iterator[Session]:
    """Track one job; its loggers are closed with the job's outcome however the body exits."""
    global _current
    _current = sess = Session(cfg)
    try:
        yield sess
    except BaseException as e:
        sess.close(JobOutcome(sess.metrics, exit_code=1, state=_failed_state(e)))
        raise
    else:
        sess.close(JobOutcome(sess.metrics, exit_code=0, state="COMPLETE"))
    finally:
        _current = None


def _failed_state(error: BaseException) -> str:
    # optuna.TrialPruned, matched by name so that this module never imports optuna
    return "PRUNED" if type(error).__name__ == "TrialPruned" else "FAIL"


def _hydra_select(key: str) -> Any:
    if not HydraConfig.initialized():
        return None
    return OmegaConf.select(HydraConfig.instance().cfg.hydra, key, default=None)  # type: ignore[union-attr]
