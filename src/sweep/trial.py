"""Lightning callbacks that tie a training run to its Optuna trial."""

import math
from typing import Any

import lightning.pytorch as pl
import optuna
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from omegaconf import DictConfig

from src.sweep.storage import open_storage


class NonFiniteMetricError(FloatingPointError):
    """A loss became NaN or infinite: the trial fails with this message as its reason."""


class FiniteLoss(Callback):
    """Raise :class:`NonFiniteMetricError` when a loss is NaN/inf after a validation epoch.

    Early stopping's ``check_finite`` would end such a run quietly with a meaningless score;
    in a sweep the trial must be recorded as failed, with the reason.
    """

    def __init__(self, keys: tuple[str, ...] = ("train/loss", "val/loss")) -> None:
        self.keys = keys

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        metrics = trainer.callback_metrics
        for key in self.keys:
            # the newest value: a per-step key (train/loss_step) before the epoch's
            value = next((metrics[k] for k in (key, f"{key}_step") if k in metrics), None)
            if value is not None and not math.isfinite(float(value)):
                raise NonFiniteMetricError(
                    f"{key} is {float(value)} at epoch {trainer.current_epoch}"
                )


def trial_callbacks(cfg: DictConfig) -> list[Callback]:
    """Callbacks for a job of an Optuna sweep; none outside a sweep (``cfg.optuna`` null)."""
    node = cfg.get("optuna")
    if node is None:
        return []
    callbacks: list[Callback] = [FiniteLoss()]
    if node.get("prune", False):
        callbacks.append(_fit_pruning(attach(node), node.monitor))
    return callbacks


def _fit_pruning(trial: optuna.trial.Trial, monitor: str) -> Callback:
    """Optuna-integration's pruning callback, silent outside ``fit``.

    ``train`` re-validates the best checkpoint after fitting; that must neither report a step
    nor prune a trial that has already trained to the end.
    """
    from optuna_integration import PyTorchLightningPruningCallback

    class FitPruning(PyTorchLightningPruningCallback):
        def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            if trainer.state.fn == TrainerFn.FITTING:
                super().on_validation_end(trainer, pl_module)

    return FitPruning(trial, monitor=monitor)


def attach(node: Any) -> optuna.trial.Trial:
    """The running trial ``node.trial`` (its number) of study ``node.study_name``."""
    storage = open_storage(node.storage)
    pruner = instantiate(node.pruner) if node.get("pruner") else None
    study = optuna.load_study(study_name=node.study_name, storage=storage, pruner=pruner)
    study_id = storage.get_study_id_from_name(node.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, int(node.trial))
    return optuna.trial.Trial(study, trial_id)


def stop_if_pruned(trainer: pl.Trainer) -> bool:
    """After ``fit`` of a sweep job: raise TrialPruned on rank 0 if the trial was pruned.

    Under DDP the pruning callback only stops training, and ``check_pruned`` says so on every
    rank. Ranks > 0 must then end quietly (return True: the caller stops): a rank exiting
    with an error makes Lightning kill all processes of the run, the sweeper included.
    """
    from optuna_integration import PyTorchLightningPruningCallback

    for cb in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(cb, PyTorchLightningPruningCallback):
            try:
                cb.check_pruned()
            except optuna.TrialPruned:
                if trainer.is_global_zero:
                    raise
                return True
    return False
