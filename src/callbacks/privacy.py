"""Differentially private training (DP-SGD) of any single-optimizer task, through Opacus.

``privacy=dp`` (``conf/privacy/dp.yaml``) adds this callback and makes the training split
Poisson-sampled (``dataset.sampler=poisson``). It follows Opacus' own Lightning example
(``examples/mnist_lightning.py``: the LightningModule itself is wrapped, hooks capture each
sample's gradient) without its ``DPLightningDataModule``, which needs a torch ``DataLoader``:

- :meth:`DPSGD.prepare` (called by ``build.module`` in every mode, so that checkpoints of a
  private model load for eval, predict and export) swaps the layers DP-SGD cannot train
  (BatchNorm -> GroupNorm, GRU/LSTM/attention -> Opacus' versions: ``ModuleValidator.fix``) and
  refuses, naming it, a layer it cannot train at all;
- at the start of training, the module's optimizer is wrapped in Opacus' ``DPOptimizer``
  (per-sample clipping to ``max_grad_norm``, Gaussian noise) with a privacy accountant;
- every epoch logs ``train/epsilon`` spent so far (at ``target_delta``), which reaches
  ``metrics.json`` with the other ``train/`` metrics.
"""

import logging
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.nn.utils import parametrize

from src.errors import ConfigError, UserError

log = logging.getLogger(__name__)
SUPPORTED = (
    "layers whose gradient Opacus computes per sample without hidden state (Linear, Conv, "
    "GroupNorm, LayerNorm, Embedding, ...; BatchNorm, GRU, LSTM and attention are swapped for "
    "private versions)"
)


def _opacus() -> Any:
    try:
        import opacus
    except ImportError as e:
        raise UserError(
            "privacy: DP-SGD needs Opacus; install it with pip install -e '.[privacy]'"
        ) from e
    return opacus


class DPSGD(Callback):
    """DP-SGD: per-sample gradient clipping, Gaussian noise and privacy accounting.

    Args:
        noise_multiplier: noise std as a multiple of ``max_grad_norm``; None: the smallest
            that keeps the whole training (``trainer.max_epochs``) within ``target_epsilon``.
        target_epsilon: the privacy budget ε when ``noise_multiplier`` is None.
        target_delta: δ of the (ε, δ) guarantee; ε is reported at this δ.
        max_grad_norm: each sample's gradient is clipped to this L2 norm.
        accountant: Opacus' accountant: ``rdp``, ``prv`` or ``gdp``.
    """

    def __init__(
        self,
        noise_multiplier: float | None = None,
        target_epsilon: float | None = None,
        target_delta: float = 1e-5,
        max_grad_norm: float = 1.0,
        accountant: str = "rdp",
    ) -> None:
        if (noise_multiplier is None) == (target_epsilon is None):
            raise ConfigError(
                "privacy.noise_multiplier",
                noise_multiplier,
                "exactly one of privacy.noise_multiplier and privacy.target_epsilon",
                "e.g. privacy.target_epsilon=3 privacy.noise_multiplier=null",
            )
        self.noise_multiplier, self.target_epsilon = noise_multiplier, target_epsilon
        self.target_delta, self.max_grad_norm = target_delta, max_grad_norm
        self.accountant_name = accountant
        self.accountant = _opacus().accountants.create_accountant(mechanism=accountant)
        self._hooks: Any = None  # Opacus' per-sample gradient hooks while training
        self._optimizer: Any = None  # the module's own optimizer, restored after training

    # ---- the network: in every mode ------------------------------------------------------
    def prepare(self, module: nn.Module) -> nn.Module:
        """``module`` with its layers made trainable by DP-SGD; an unsupported one is refused."""
        _refuse(_parametrized(module))
        fixed = _opacus().validators.ModuleValidator.fix(module)
        _refuse(_with_buffers(fixed))
        errors = _opacus().validators.ModuleValidator.validate(fixed, strict=False)
        if errors:
            _refuse([str(e).split(".")[0] for e in errors])
        return fixed

    # ---- training --------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _check_trainer(trainer, pl_module)
        opacus = _opacus()
        loader = trainer.train_dataloader
        steps = len(loader)  # type: ignore[arg-type]
        sample_rate = 1 / steps  # Opacus' convention: each sample is in a step with this chance
        epochs = trainer.max_epochs or -1
        sigma = self.noise_multiplier or self._noise_for_budget(sample_rate, epochs)
        self.noise_multiplier = sigma
        self._hooks = opacus.GradSampleModule(pl_module, batch_first=True, loss_reduction="mean")
        self._optimizer = trainer.optimizers[0]
        private = opacus.optimizers.DPOptimizer(
            self._optimizer,
            noise_multiplier=sigma,
            max_grad_norm=self.max_grad_norm,
            expected_batch_size=loader.batch_size,  # type: ignore[union-attr]
            loss_reduction="mean",
        )
        private.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=sample_rate))
        trainer.strategy.optimizers = [private]  # the schedule steps the same param_groups
        log.info("DP-SGD: noise multiplier %.4f, sample rate %.5f", sigma, sample_rate)

    def _noise_for_budget(self, sample_rate: float, epochs: int) -> float:
        from opacus.accountants.utils import get_noise_multiplier

        eps, delta = self.target_epsilon, self.target_delta
        if epochs < 1:
            expected = "a number of epochs >= 1 under privacy.target_epsilon (spent over them)"
            raise ConfigError("trainer.max_epochs", epochs, expected)
        try:
            return float(get_noise_multiplier(
                target_epsilon=eps, target_delta=delta, sample_rate=sample_rate,
                epochs=epochs, accountant=self.accountant_name,
            ))  # fmt: skip
        except ValueError as e:  # "The privacy budget is too low."
            raise ConfigError(
                "privacy.target_epsilon",
                eps,
                f"a budget reachable in {epochs} epochs of {round(1 / sample_rate)} steps at "
                f"delta={delta} (no noise multiplier up to 1e6 gets there: {e})",
                "raise privacy.target_epsilon or privacy.target_delta, or train fewer epochs",
            ) from e

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epsilon = self.accountant.get_epsilon(delta=self.target_delta)
        pl_module.log("train/epsilon", float(epsilon), on_epoch=True)
        pl_module.log("train/noise_multiplier", float(self.noise_multiplier or 0.0), on_epoch=True)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._hooks is not None:
            self._hooks.remove_hooks()
            trainer.strategy.optimizers = [self._optimizer]

    # ---- resuming: the privacy spent so far is part of the checkpoint -----------------------
    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.accountant.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.accountant.history = list(state_dict.get("history", []))


def _parametrized(module: nn.Module) -> list[str]:
    """Layers with a parametrization (spectral or weight norm): Opacus cannot copy them."""
    return [
        f"{name} ({type(m).__name__} with {', '.join(m.parametrizations)})"
        for name, m in module.named_modules()
        if parametrize.is_parametrized(m)
    ]


def _with_buffers(module: nn.Module) -> list[str]:
    """Trainable layers that also keep buffers (running statistics): not private."""
    return [
        f"{name} ({m})"
        for name, m in module.named_modules()
        if any(p.requires_grad for p in m.parameters(recurse=False))
        and any(True for _ in m.buffers(recurse=False))
    ]


def _refuse(layers: list[str]) -> None:
    if layers:
        raise ConfigError(
            "model.net",
            "; ".join(layers),
            SUPPORTED,
            "replace the layer named (e.g. a norm without running statistics), or train "
            "without privacy (drop privacy=dp)",
        )


def _check_trainer(trainer: pl.Trainer, module: pl.LightningModule) -> None:
    """What DP-SGD's guarantee assumes: one optimizer stepping on every batch, one process."""
    checks = [
        ("trainer.accumulate_grad_batches", trainer.accumulate_grad_batches, 1),
        ("trainer.gradient_clip_val", trainer.gradient_clip_val, None),
        ("hardware.devices", trainer.world_size, 1),
        ("model: optimizers", len(trainer.optimizers), 1),
        ("model: automatic_optimization", module.automatic_optimization, True),
    ]
    for key, value, needed in checks:
        if value != needed:
            raise ConfigError(
                key,
                value,
                f"{needed} under privacy (DP-SGD clips and noises each step's per-sample "
                "gradients itself, on one process, for one optimizer)",
                "drop the setting, or drop privacy",
            )
