"""Generative adversarial networks for images, unconditional or class-conditional."""

import copy
from collections.abc import Callable, Mapping
from typing import Any, cast

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from src.errors import ConfigError
from src.modules.gan_losses import GanLoss, gradient_penalty, r1_penalty
from src.modules.gan_quality import ImageQuality
from src.optim import SchedulerSpec

Batch = dict[str, torch.Tensor]


class GANModule(pl.LightningModule):
    ema_updates: torch.Tensor

    """Trains ``generator`` against ``discriminator`` with manual optimisation.

    Logs ``train/loss_d``, ``train/loss_g`` and ``<split>/loss`` (the discriminator's loss:
    train on its own steps, val/test on held-out real images against the EMA generator's), and
    with ``quality``: ``<split>/fid`` and ``<split>/kid`` of as many generated images as the
    split has (labels of the split's images when conditional) against the training split, the
    floor ``<split>/fid_floor`` (real test split against the training split) and, when
    conditional, ``<split>/class_acc`` (generated images the classifier assigns their class).

    Args:
        generator: ``generator(z, y)`` -> images (B, C, H, W); ``y`` None if unconditional.
        discriminator: ``discriminator(x, y)`` -> logits (B,).
        optimizer_g: the generator's optimizer factory (``_partial_: true``).
        optimizer_d: the discriminator's optimizer factory.
        scheduler_g: the generator's learning-rate schedule; None for a constant lr.
        scheduler_d: the discriminator's learning-rate schedule.
        lr_g: the generator's learning rate (``optimizer_g.lr`` after hardware scaling);
            None keeps the factory's.
        lr_d: the discriminator's learning rate.
        latent_dim: size of the generator's noise vector.
        num_classes: > 0 for class-conditional networks (they read the batch's ``target``).
        loss: ``ns`` (non-saturating), ``hinge`` or ``wgan-gp``.
        real_label: < 1 smooths the real labels of the ``ns`` loss (one-sided).
        gp_weight: weight of the WGAN-GP gradient penalty (``wgan-gp`` only).
        r1_gamma: R1 penalty ``gamma / 2 * E||grad D(real)||^2``; 0 disables.
        n_critic: discriminator steps per generator step.
        ema_decay: decay of the moving average of the generator's weights, used for sampling
            and evaluation; 0 samples from the trained generator itself.
        gradient_clip_val: clip each network's gradient norm to this (after AMP unscaling);
            Lightning's ``trainer.gradient_clip_val`` does not apply under manual optimisation.
        quality: FID/KID over a trained classifier's features; None logs neither.
        fid_classifier: the checkpoint ``quality``'s classifier was loaded from, named in errors.
        callbacks: the task's callbacks (sample grids), added to the trainer's.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: Callable[..., Optimizer],
        optimizer_d: Callable[..., Optimizer],
        scheduler_g: SchedulerSpec | None = None,
        scheduler_d: SchedulerSpec | None = None,
        lr_g: float | None = None,
        lr_d: float | None = None,
        latent_dim: int = 64,
        num_classes: int = 0,
        loss: str = "ns",
        real_label: float = 1.0,
        gp_weight: float = 10.0,
        r1_gamma: float = 0.0,
        n_critic: int = 1,
        ema_decay: float = 0.999,
        gradient_clip_val: float | None = None,
        quality: ImageQuality | None = None,
        fid_classifier: str | None = None,
        callbacks: Mapping[str, Callback] | None = None,
    ) -> None:
        super().__init__()
        if n_critic < 1:
            raise ConfigError("model.n_critic", n_critic, "an integer >= 1")
        if not 0.0 <= ema_decay < 1.0:
            raise ConfigError("model.ema_decay", ema_decay, "0 <= decay < 1 (0: no average)")
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        # the average is a copy that never trains: (B, latent) -> (B, C, H, W) like generator
        self.generator_ema = copy.deepcopy(generator).requires_grad_(False)
        self.factories = (optimizer_g, optimizer_d)
        self.schedules = (scheduler_g, scheduler_d)
        self.lrs = (lr_g, lr_d)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.objective = GanLoss(loss, real_label)
        self.gp_weight = gp_weight if loss == "wgan-gp" else 0.0
        self.r1_gamma, self.n_critic, self.ema_decay = r1_gamma, n_critic, ema_decay
        self.gradient_clip_val, self.quality = gradient_clip_val, quality
        self.fid_classifier = fid_classifier
        self.task_callbacks = list((callbacks or {}).values())
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        self._critic_steps = 0
        self._nonfinite: torch.Tensor | None = None  # first non-finite training loss

    # ---- sampling --------------------------------------------------------------------------
    @property
    def sampler(self) -> nn.Module:
        """The network samples come from: the moving average, or the generator without one."""
        return self.generator_ema if self.ema_decay > 0 else self.generator

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, latent_dim) standard normal noise on the module's device."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        return z.to(self.device)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, H, W) in the data's normalised space, from the sampling network."""
        net = self.sampler
        training = net.training
        net.eval()
        try:
            return net(z, y if self.num_classes else None).float()
        finally:
            net.train(training)

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        return batch["target"] if self.num_classes else None

    # ---- training --------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> None:
        x, y = batch["x"], self._labels(batch)
        opt_g, opt_d = cast(list[Any], self.optimizers())
        loss_d = self._discriminator_step(opt_d, x, y)
        self._watch(loss_d)
        log = {"train/loss_d": loss_d, "train/loss": loss_d}
        self._critic_steps += 1
        if self._critic_steps % self.n_critic == 0:
            log["train/loss_g"] = self._generator_step(opt_g, len(x), y)
            self._watch(log["train/loss_g"])
            self._update_ema()
        self.log_dict(log, on_step=False, on_epoch=True, batch_size=len(x), sync_dist=True)
        self._step_schedules("step")

    def _discriminator_step(
        self, opt: Any, x: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        with torch.no_grad():
            fake = self.generator(self.noise(len(x)), y)
        loss = self.objective.discriminator(self.discriminator(x, y), self.discriminator(fake, y))
        if self.gp_weight:
            loss = loss + self.gp_weight * gradient_penalty(self.discriminator, x, fake, y)
        if self.r1_gamma:
            loss = loss + self.r1_gamma / 2 * r1_penalty(self.discriminator, x, y)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()
        return loss.detach()

    def _generator_step(self, opt: Any, n: int, y: torch.Tensor | None) -> torch.Tensor:
        # the discriminator is not updated here: no gradients for its weights
        self.discriminator.requires_grad_(False)
        try:
            loss = self.objective.generator(self.discriminator(self.generator(self.noise(n), y), y))
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()
        finally:
            self.discriminator.requires_grad_(True)
        return loss.detach()

    @torch.no_grad()
    def _update_ema(self) -> None:
        if not self.ema_decay:
            return
        self.ema_updates += 1
        # warm-up: the average forgets its random start in the first ~10 / (1 - decay) steps
        n = float(self.ema_updates)
        decay = min(self.ema_decay, (1 + n) / (10 + n))
        for avg, p in zip(
            self.generator_ema.parameters(), self.generator.parameters(), strict=True
        ):
            avg.lerp_(p.detach(), 1 - decay)
        for kept, b in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
            kept.copy_(b)

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        # here the gradients are unscaled under 16-bit AMP, as clipping needs
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, self.gradient_clip_val, "norm")

    def _watch(self, loss: torch.Tensor) -> None:
        """Keep the first non-finite loss on the device (no host sync per step)."""
        first = self._nonfinite if self._nonfinite is not None else torch.zeros_like(loss)
        self._nonfinite = torch.where(torch.isfinite(first) & ~torch.isfinite(loss), loss, first)

    def _check_finite(self) -> None:
        bad = self._nonfinite
        if bad is not None and not torch.isfinite(bad):
            raise FloatingPointError(
                f"a GAN loss became {float(bad)} in epoch {self.current_epoch}: training "
                "diverged. Lower the learning rates (optimizer_g/optimizer_d.lr), or use "
                "model.loss=hinge, model.discriminator.spectral_norm=true or "
                "model.gradient_clip_val=1.0"
            )

    def on_train_epoch_end(self) -> None:
        self._check_finite()
        self._step_schedules("epoch")

    def _step_schedules(self, interval: str) -> None:
        for config in self.trainer.lr_scheduler_configs:
            if config.interval != interval:
                continue
            if isinstance(config.scheduler, ReduceLROnPlateau):
                value = self.trainer.callback_metrics.get(config.monitor or "")
                if value is not None:
                    config.scheduler.step(float(value))
            else:
                config.scheduler.step()

    # ---- evaluation ------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.quality is not None:
            datamodule = self.trainer.datamodule  # type: ignore[attr-defined]
            self.quality.bind(datamodule, self.fid_classifier)

    def on_validation_epoch_start(self) -> None:
        self._check_finite()
        if self.quality is not None:
            self.quality.start(self.trainer.datamodule, self.device)  # type: ignore[attr-defined]

    def on_test_epoch_start(self) -> None:
        if self.quality is not None:
            self.quality.start(self.trainer.datamodule, self.device)  # type: ignore[attr-defined]

    def _evaluate(self, batch: Batch, split: str) -> None:
        x, y = batch["x"], self._labels(batch)
        fake = self.sample(self.noise(len(x)), y)
        with torch.no_grad():
            loss = self.objective.discriminator(
                self.discriminator(x, y), self.discriminator(fake, y)
            )
        self.log(f"{split}/loss", loss, on_epoch=True, batch_size=len(x), sync_dist=True)
        if self.quality is not None:
            self.quality.update(fake, y)

    def _log_quality(self, split: str) -> None:
        if self.quality is None:
            return
        values = self.quality.compute(self.trainer.strategy)
        # already reduced over ranks
        self.log_dict({f"{split}/{k}": v.float() for k, v in values.items()}, sync_dist=False)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_quality("val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_quality("test")

    # ---- wiring ----------------------------------------------------------------------------
    def configure_callbacks(self) -> list[Callback]:
        return [cb for cb in self.task_callbacks if cb not in self.trainer.callbacks]  # type: ignore[attr-defined]

    def configure_optimizers(self) -> Any:
        """The generator's optimizer and schedule, then the discriminator's."""
        configs = []
        nets = (self.generator, self.discriminator)
        for net, factory, spec, lr in zip(
            nets, self.factories, self.schedules, self.lrs, strict=True
        ):
            optimizer = factory(net.parameters(), **({} if lr is None else {"lr": lr}))
            schedule = spec.build(optimizer, self.trainer) if spec else None
            configs.append(
                {"optimizer": optimizer, **({"lr_scheduler": schedule} if schedule else {})}
            )
        return configs
