"""Lightning callbacks that tie a training run to its Optuna trial."""

import math
from typing import Any

import lightning.pytorch as pl
import optuna
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from omegaconf import DictConfig

from src.sweep.storage import open_storage


class NonFiniteMetricError(FloatingPointError):
    """A loss became NaN or infinite: the trial fails with this message as its reason."""


class FiniteLoss(Callback):
    """Raise :class:`NonFiniteMetricError` after a validation epoch when a loss that was
    back-propagated in the epoch, or the validation loss, was NaN/inf.

    Early stopping's ``check_finite`` would end such a run quietly with a meaningless score,
    and a pruner would record it PRUNED; in a sweep the trial must be recorded as failed, with
    the reason. Every loss passed to ``backward`` is checked, on the device (no host sync):
    ``on_before_backward`` runs under automatic and manual optimisation alike (a GAN's
    generator and discriminator losses both), whatever the module logs or returns.
    """

    def __init__(self) -> None:
        self._bad: torch.Tensor | None = None  # the first non-finite loss, else 0-dim 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._bad = None

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        loss = loss.detach().float().reshape(-1)[:1].reshape(())
        first = self._bad if self._bad is not None else torch.zeros_like(loss)
        # keeps the first non-finite value: finite(first) and not finite(loss) -> loss
        self._bad = torch.where(torch.isfinite(first) & ~torch.isfinite(loss), loss, first)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        values = {"train/loss": self._bad, "val/loss": trainer.callback_metrics.get("val/loss")}
        for key, value in values.items():
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
