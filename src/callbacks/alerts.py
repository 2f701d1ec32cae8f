"""Threshold alerts: warn, stop or fail a run when a logged metric crosses a configured limit.

Each rule watches one metric. It fires when the value is below ``below``, above ``above``, or
(always) not finite, once ``after_epoch`` epochs have passed. Rules are checked after every
training batch against the step value (``<metric>_step``, e.g. a NaN loss or an exploding
``train/grad_norm``) and at the end of every epoch against the epoch value. A firing rule is
printed and written to the run log, logged to every logger as ``alerts/<metric>`` and appended
to ``alerts.jsonl`` in the run directory, then: ``warn`` goes on, ``stop`` ends training after
the current batch (the run still tests its best checkpoint), ``fail`` raises :class:`AlertError`
so the run, and its W&B/MLflow run, is marked failed.
"""

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from src.errors import ConfigError
from src.utils.steps import is_logging_step

log = logging.getLogger(__name__)
ACTIONS = ("warn", "stop", "fail")


class AlertError(RuntimeError):
    """A rule with ``action: fail`` fired."""


@dataclass(frozen=True)
class Alert:
    """One rule; see the module docstring."""

    metric: str
    below: float | None = None
    above: float | None = None
    after_epoch: int = 0
    action: str = "warn"

    def violated(self, value: float) -> str | None:
        """Why ``value`` breaks this rule, or None when it does not."""
        if not math.isfinite(value):
            return f"{self.metric} is {value}"
        if self.below is not None and value < self.below:
            return f"{self.metric}={value:.4g} < {self.below:g}"
        if self.above is not None and value > self.above:
            return f"{self.metric}={value:.4g} > {self.above:g}"
        return None


def parse_rules(
    rules: Sequence[Mapping[str, Any]], key: str = "callbacks.alerts.rules"
) -> list[Alert]:
    """Rules from the config, each checked so that a typo fails before training starts."""
    alerts = []
    for i, rule in enumerate(rules):
        try:
            alert = Alert(**dict(rule))
        except TypeError as e:
            raise ConfigError(
                f"{key}[{i}]", dict(rule), "keys metric, below, above, after_epoch, action"
            ) from e
        if alert.action not in ACTIONS:
            raise ConfigError(f"{key}[{i}].action", alert.action, "one of " + ", ".join(ACTIONS))
        alerts.append(alert)
    return alerts


class ThresholdAlerts(pl.Callback):
    """Checks every rule at each logging step and epoch end; fires each rule once per epoch.

    Step values are read on the trainer's logging steps only (every ``log_every_n_steps``
    batches): reading the trainer's metrics after every batch costs more than a small step.

    Args:
        rules: mappings with ``metric`` and ``below`` and/or ``above``, optional ``after_epoch``
            (default 0) and ``action`` (``warn`` | ``stop`` | ``fail``, default ``warn``).
        output_file: where fired alerts are appended as JSON lines; None = not written.
    """

    def __init__(self, rules: Sequence[Mapping[str, Any]], output_file: str | None = None) -> None:
        self.rules = parse_rules(rules)
        self.output_file = Path(output_file) if output_file else None
        self.fired: list[dict[str, Any]] = []
        self._fired_this_epoch: set[Alert] = set()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fired_this_epoch.clear()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if is_logging_step(trainer):
            self._check(trainer, suffix="_step")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer, suffix="")

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self._check(trainer, suffix="")

    def _check(self, trainer: pl.Trainer, suffix: str) -> None:
        metrics = trainer.callback_metrics
        for rule in self.rules:
            if trainer.current_epoch < rule.after_epoch or rule in self._fired_this_epoch:
                continue
            value = metrics.get(rule.metric + suffix)
            if value is None and suffix == "":
                value = metrics.get(rule.metric + "_epoch")
            if value is None or value.numel() != 1:
                continue
            reason = rule.violated(float(value))
            if reason:
                self._fire(trainer, rule, reason, float(value))

    def _fire(self, trainer: pl.Trainer, rule: Alert, reason: str, value: float) -> None:
        self._fired_this_epoch.add(rule)
        event = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "value": value,
            "reason": reason,
            **asdict(rule),
        }
        self.fired.append(event)
        message = f"alert ({rule.action}) at epoch {trainer.current_epoch}: {reason}"
        if trainer.is_global_zero:
            log.warning(message)
            self._record(trainer, rule, value, event)
        if rule.action == "stop":
            trainer.should_stop = True
        elif rule.action == "fail":
            raise AlertError(message)

    def _record(self, trainer: pl.Trainer, rule: Alert, value: float, event: dict) -> None:
        for logger in trainer.loggers:
            logger.log_metrics({f"alerts/{rule.metric}": value}, step=trainer.global_step)
        if self.output_file:
            self.output_file.parent.mkdir(parents=True, exist_ok=True)
            with self.output_file.open("a") as f:
                f.write(json.dumps(event) + "\n")
