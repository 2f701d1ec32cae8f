"""What a finished job means for its trial: COMPLETE with values, PRUNED, or FAIL with a reason.

Launchers never raise for a failed job: the JobReturn carries the exception (``status``
FAILED, ``_return_value`` the exception), also across processes (joblib, submitit).
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import TrialState


@dataclass
class Outcome:
    state: TrialState
    values: list[float] = field(default_factory=list)
    reason: str | None = None


def outcome_of(ret: JobReturn, objectives: list[str] | None, n_objectives: int) -> Outcome:
    """Classify a job's return: its value(s), or why the trial failed or was pruned."""
    if ret.status != JobStatus.COMPLETED:
        error = ret._return_value
        if isinstance(error, optuna.TrialPruned):
            return Outcome(TrialState.PRUNED, reason=f"pruned: {error}" if str(error) else None)
        return Outcome(TrialState.FAIL, reason=f"{type(error).__name__}: {error}")
    try:
        values = _read_objectives(ret, objectives) if objectives else _as_list(ret._return_value)
    except (OSError, KeyError, TypeError, ValueError) as e:
        return Outcome(TrialState.FAIL, reason=f"no objective value: {type(e).__name__}: {e}")
    if len(values) != n_objectives:
        return Outcome(
            TrialState.FAIL,
            reason=f"{len(values)} value(s) returned for {n_objectives} objective(s)",
        )
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        return Outcome(TrialState.FAIL, reason=f"objective is {bad[0]} (diverged?)")
    return Outcome(TrialState.COMPLETE, values=values)


def _as_list(value: Any) -> list[float]:
    if value is None:
        raise ValueError("the job returned None (is optimized_metric set and logged?)")
    if isinstance(value, list | tuple):
        return [float(v) for v in value]
    return [float(value)]


def _read_objectives(ret: JobReturn, objectives: list[str]) -> list[float]:
    """The named metrics from the job's metrics.json (written by every training run)."""
    out_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir)  # type: ignore[union-attr]
    metrics = json.loads((out_dir / "metrics.json").read_text())
    return [float(metrics[name]) for name in objectives]
