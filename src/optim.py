"""Learning-rate schedules from config: a scheduler factory plus how Lightning should step it."""

import fnmatch
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    ReduceLROnPlateau,
    SequentialLR,
)

from src.errors import ConfigError

SchedulerFactory = Callable[..., LRScheduler | ReduceLROnPlateau]


class SchedulerSpec:
    """A partially applied torch scheduler and the Lightning settings to drive it.

    Args:
        factory: ``torch.optim.lr_scheduler.X`` with ``_partial_: true``; None = constant lr.
        interval: step the schedule every ``epoch`` or every optimizer ``step``.
        monitor: metric that ReduceLROnPlateau watches.
        warmup: intervals of linear warm-up before the schedule (0 = none).
        warmup_start_factor: the warm-up starts at this fraction of the lr.
    """

    # a plain class, not a dataclass: hydra.utils.instantiate would turn a dataclass passed as a
    # keyword argument back into a config node
    def __init__(
        self,
        factory: SchedulerFactory | None = None,
        interval: str = "epoch",
        monitor: str = "val/loss",
        warmup: int = 0,
        warmup_start_factor: float = 0.1,
    ) -> None:
        self.factory, self.interval, self.monitor = factory, interval, monitor
        self.warmup, self.warmup_start_factor = warmup, warmup_start_factor
        if warmup and getattr(factory, "func", None) is ReduceLROnPlateau:
            # SequentialLR cannot chain ReduceLROnPlateau, which steps on a metric
            raise ConfigError(
                "scheduler.warmup",
                warmup,
                "0 with ReduceLROnPlateau",
                "use scheduler.warmup=0, or another scheduler",
            )

    def build(self, optimizer: Optimizer, trainer: "pl.Trainer") -> dict[str, Any] | None:
        """Lightning's ``lr_scheduler`` dict for ``configure_optimizers``, or None."""
        if self.factory is None:
            return None
        kwargs = {}
        # schedules that must know the run length (OneCycleLR) get it from the trainer
        params = inspect.signature(self.factory).parameters
        if "total_steps" in params and params["total_steps"].default is None:
            kwargs["total_steps"] = int(trainer.estimated_stepping_batches)
        # a cosine given T_max: null spans the run after the warm-up, in `interval`s
        if "T_max" in params and params["T_max"].default is None:
            steps = trainer.estimated_stepping_batches if self.interval == "step" else None
            total = int(steps) if steps is not None else trainer.max_epochs or 1
            kwargs["T_max"] = max(1, total - self.warmup)
        scheduler = self.factory(optimizer, **kwargs)
        if self.warmup > 0 and not isinstance(scheduler, ReduceLROnPlateau):
            warm = LinearLR(optimizer, self.warmup_start_factor, 1.0, total_iters=self.warmup)
            scheduler = SequentialLR(optimizer, [warm, scheduler], milestones=[self.warmup])
        return {"scheduler": scheduler, "interval": self.interval, "monitor": self.monitor}


def cosine_annealing(
    optimizer: Optimizer, T_max: int | None = None, eta_min: float = 0.0
) -> CosineAnnealingLR:
    """``CosineAnnealingLR`` whose ``T_max: null`` means the whole run after the warm-up, in
    the schedule's intervals (:meth:`SchedulerSpec.build` fills it in from the trainer)."""
    if T_max is None:
        raise ValueError("T_max=None: build the schedule through SchedulerSpec.build")
    return CosineAnnealingLR(optimizer, T_max=T_max, eta_min=eta_min)


def parameter_groups(
    named: Sequence[tuple[str, nn.Parameter]], lr_multipliers: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Optimizer parameter groups of the trainable parameters of ``named``: one per pattern of
    ``lr_multipliers`` (the first matching pattern wins), with its ``lr_multiplier``; the rest
    get 1.0.

    Raises:
        ConfigError: a pattern matches no parameter (a typo would silently train at full rate).
    """
    groups: dict[str, list[nn.Parameter]] = {p: [] for p in lr_multipliers}
    rest: list[nn.Parameter] = []
    matched: set[str] = set()
    for name, param in named:
        pattern = next((p for p in lr_multipliers if fnmatch.fnmatch(name, p)), None)
        if pattern is not None:
            matched.add(pattern)
        if param.requires_grad:
            (groups[pattern] if pattern is not None else rest).append(param)
    unused = [p for p in lr_multipliers if p not in matched]
    if unused:
        raise ConfigError(
            "model.transfer.lr_multipliers",
            unused,
            "glob patterns over parameter names",
            f"names look like {[n for n, _ in named][:4]}",
        )
    out = [
        {"params": ps, "lr_multiplier": float(lr_multipliers[p])} for p, ps in groups.items() if ps
    ]
    return out + ([{"params": rest, "lr_multiplier": 1.0}] if rest else [])
