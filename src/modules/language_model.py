"""Causal language modelling: predict every next token of a window of text."""

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.nn import functional as F
from torch.optim import Optimizer
from torchmetrics.aggregation import SumMetric

from src.errors import UserError
from src.networks.lora import LoRA
from src.optim import SchedulerSpec
from src.utils.steps import is_logging_step

Batch = dict[str, torch.Tensor]
LN2 = math.log(2)


def decay_groups(
    net: nn.Module, weight_decay: float | None = None, decay_embeddings: bool = False
) -> list[dict[str, Any]]:
    """Parameter groups for AdamW: weight decay on matrices of linear layers; none on norms and
    biases, nor on embeddings (and the output layer tied to them) unless ``decay_embeddings``
    (nanoGPT decays every matrix, embeddings included).

    ``weight_decay`` of the decayed group: None keeps the optimizer's own setting.
    """
    embeddings = set()
    if not decay_embeddings:
        embeddings = {id(m.weight) for m in net.modules() if isinstance(m, nn.Embedding)}
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in net.parameters():  # a tied weight is listed once
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and id(p) not in embeddings else no_decay).append(p)
    first: dict[str, Any] = {"params": decay}
    if weight_decay is not None:
        first["weight_decay"] = weight_decay
    return [first, {"params": no_decay, "weight_decay": 0.0}]


def load_network(net: nn.Module, path: str) -> None:
    """``net``'s weights from the ``net.*`` tensors of a LanguageModel checkpoint."""
    from src.utils.checkpoints import verify_checkpoint

    state = verify_checkpoint(path)["state_dict"]
    weights = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
    expected = net.state_dict()
    wrong = [k for k in expected if k not in weights or weights[k].shape != expected[k].shape]
    if wrong:
        raise UserError(
            f"model.pretrained={path!r} does not hold this network's weights ({len(wrong)} "
            f"missing or of another shape, e.g. {wrong[0]}). Fix: give a checkpoint of the same "
            "model.net (layers, widths, dataset.block_size) and its tokenizer"
        )
    net.load_state_dict({k: weights[k] for k in expected})


class LanguageModel(pl.LightningModule):
    """Trains ``net`` on next-token prediction; logs per split ``loss`` (nats per token),
    ``ppl`` (perplexity), ``bits_per_token`` and ``bits_per_byte`` (UTF-8 bytes of the
    text), and ``train/tokens_per_s``.

    Args:
        net: token ids (B, T) -> logits (B, T, V); a :class:`~src.networks.gpt.GPT`.
        optimizer: optimizer factory (``_partial_: true``), called with two parameter groups:
            matrices (decayed) and the rest (weight_decay 0).
        scheduler: learning-rate schedule; None for a constant lr.
        callbacks: the task's own callbacks (e.g. samples written during training).
        pretrained: a checkpoint of a language model whose network weights ``net`` starts
            from (fine-tuning); None: ``net`` as initialised.
        lora: adapters put beside the (then frozen) pretrained weights; only they train.
        decay_embeddings: weight decay on the embeddings too (nanoGPT's choice), not only on
            the matrices of linear layers.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: SchedulerSpec | None = None,
        callbacks: Mapping[str, Callback] | None = None,
        pretrained: str | None = None,
        lora: LoRA | None = None,
        decay_embeddings: bool = False,
    ) -> None:
        super().__init__()
        if pretrained is not None:
            load_network(net, pretrained)
        if lora is not None:
            lora.apply(net)
        self.net, self.optimizer_factory, self.scheduler = net, optimizer, scheduler
        self.task_callbacks = list((callbacks or {}).values())
        self.decay_embeddings = decay_embeddings
        # per split: summed loss (nats), target tokens and their UTF-8 bytes; synced over ranks
        self.sums: Mapping[str, SumMetric] = nn.ModuleDict(  # type: ignore[assignment]
            {f"{s}_{k}": SumMetric() for s in ("val", "test") for k in ("nats", "tokens", "bytes")}
        )
        self._train_loss_sum: torch.Tensor | float = 0.0
        self._train_batches, self._train_tokens = 0, 0
        self._epoch_start, self._step_start = 0.0, 0.0

    def configure_callbacks(self) -> list[Callback]:
        attached = self.trainer.callbacks  # type: ignore[attr-defined]
        return [cb for cb in self.task_callbacks if cb not in attached]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(tokens)

    def _losses(self, batch: Batch) -> torch.Tensor:
        """Per-token losses (B, T) in nats."""
        logits = self(batch["tokens"])  # (B, T, V)
        return F.cross_entropy(
            logits.flatten(0, 1).float(), batch["target"].flatten(), reduction="none"
        ).view_as(batch["target"])

    # ---- training ------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._train_loss_sum = 0.0
        self._train_batches, self._train_tokens = 0, 0
        self._epoch_start = self._step_start = time.perf_counter()

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self._losses(batch).mean()
        tokens = batch["target"].numel()
        self._train_tokens += tokens
        if is_logging_step(self.trainer):
            now = time.perf_counter()
            steps = self.trainer.log_every_n_steps  # type: ignore[attr-defined]
            speed = steps * tokens / max(now - self._step_start, 1e-9)
            self._step_start = now
            self.log("train/loss_step", loss, on_step=True, prog_bar=True, batch_size=tokens)
            self.log("train/tokens_per_s_step", speed, on_step=True, batch_size=tokens)
        # summed on the device, read once per epoch: a per-step self.log costs ~1 ms on the CPU
        self._train_loss_sum = self._train_loss_sum + loss.detach()
        self._train_batches += 1
        return loss

    def on_train_epoch_end(self) -> None:
        seconds = time.perf_counter() - self._epoch_start
        mean = self._train_loss_sum / max(self._train_batches, 1)
        self.log("train/loss", mean, sync_dist=True)
        speed = self._train_tokens / max(seconds, 1e-9)  # this rank's; summed over ranks
        self.log("train/tokens_per_s", speed, sync_dist=True, reduce_fx="sum")

    # ---- evaluation ----------------------------------------------------------------------
    def _eval_step(self, batch: Batch, split: str) -> torch.Tensor:
        losses = self._losses(batch)
        self.sums[f"{split}_nats"].update(losses.sum())
        self.sums[f"{split}_tokens"].update(float(losses.numel()))
        self.sums[f"{split}_bytes"].update(batch["bytes"].sum().float())
        return losses.mean(dim=1)  # per window (B,)

    def _eval_epoch_end(self, split: str) -> None:
        nats, tokens, nbytes = (self.sums[f"{split}_{k}"] for k in ("nats", "tokens", "bytes"))
        total, count, size = nats.compute(), tokens.compute(), nbytes.compute()
        loss = total / count.clamp(min=1)
        values = {
            "loss": loss,
            "ppl": loss.exp(),
            "bits_per_token": loss / LN2,
            "bits_per_byte": total / LN2 / size.clamp(min=1),
        }
        for name, value in values.items():
            self.log(f"{split}/{name}", value, prog_bar=name == "loss")
        for metric in (nats, tokens, nbytes):
            metric.reset()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: Batch, batch_idx: int) -> Batch:
        return {"loss": self._eval_step(batch, "test")}

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def predict_step(self, batch: Batch, batch_idx: int) -> Batch:
        """Per window: its mean ``loss`` (nats per token) and UTF-8 ``bytes``."""
        return {"loss": self._losses(batch).mean(dim=1), "bytes": batch["bytes"]}

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(
            decay_groups(self.net, decay_embeddings=self.decay_embeddings)
        )
        schedule = self.scheduler.build(optimizer, self.trainer) if self.scheduler else None
        return optimizer if schedule is None else {"optimizer": optimizer, "lr_scheduler": schedule}
