"""Knowledge distillation for classification (Hinton et al. 2015): the ``model`` group's
network, the student, learns from a trained teacher's softened outputs besides the labels.

loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * task loss
"""

from pathlib import Path
from typing import Any

import hydra
import lightning.pytorch as pl
import torch
import yaml
from torch import nn
from torch.nn import functional as F

from src.compression.transform import compress
from src.errors import ConfigError
from src.modules.classification import ClassificationModule
from src.modules.supervised import Batch, inputs_of


class Teacher:
    """A trained classifier's network, read from its checkpoint and the run's resolved config
    beside it (``<run>/config_resolved.yaml``, whose ``model.net`` builds the network).

    Args:
        checkpoint: the teacher run's checkpoint, e.g. ``<run>/checkpoints/epoch_012.ckpt``.
        network: the module attribute holding the network in that run.
    """

    def __init__(self, checkpoint: str | None, network: str = "net") -> None:
        self.checkpoint, self.network = checkpoint, network

    def load(self) -> nn.Module:
        """The teacher network with its trained weights, frozen and in eval mode."""
        if not self.checkpoint:
            raise ConfigError(
                "model.teacher.checkpoint",
                self.checkpoint,
                "the checkpoint of a trained teacher (compression=distill)",
                "train the teacher first, then add model.teacher.checkpoint=<run>/checkpoints/"
                "<file>.ckpt",
            )
        path = Path(self.checkpoint)
        config = path.parent.parent / "config_resolved.yaml"
        if not path.is_file() or not config.is_file():
            raise ConfigError(
                "model.teacher.checkpoint",
                self.checkpoint,
                "a checkpoint file inside a run directory holding config_resolved.yaml",
                "point it at <run>/checkpoints/<file>.ckpt of a finished training run",
            )
        net_cfg = yaml.safe_load(config.read_text())["model"][self.network]
        net = hydra.utils.instantiate(net_cfg)
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
        prefix = f"{self.network}."
        net.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        return net.eval().requires_grad_(False)


def _as_classes(logits: torch.Tensor) -> torch.Tensor:
    """(B, K) logits as they are; a binary (B, 1) logit z as (B, 2) [0, z] (softmax of which is
    [1 - sigmoid(z), sigmoid(z)])."""
    return torch.cat([torch.zeros_like(logits), logits], -1) if logits.shape[-1] == 1 else logits


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float
) -> torch.Tensor:
    """T^2 * KL(teacher || student) of the temperature-softened distributions, per sample."""
    s = F.log_softmax(_as_classes(student) / temperature, -1)
    t = F.log_softmax(_as_classes(teacher) / temperature, -1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2


class DistilledClassifier(ClassificationModule):
    """A :class:`ClassificationModule` whose training loss adds the teacher's soft targets.

    The teacher is held in a tuple, outside the module's children: it is never saved in the
    student's checkpoint, never trained and never handed to the optimizer.

    Args:
        teacher: where the trained teacher comes from.
        alpha: weight of the distillation term (1 - alpha weighs the task loss).
        temperature: softens both distributions (T > 1 shows the teacher's dark knowledge).
        **kwargs: the :class:`ClassificationModule` arguments (the student is ``net``).
    """

    def __init__(
        self, teacher: Teacher, alpha: float = 0.5, temperature: float = 4.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError("model.alpha", alpha, "a weight in [0, 1]")
        if temperature <= 0:
            raise ConfigError("model.temperature", temperature, "a temperature > 0")
        self.teacher_source, self.alpha, self.temperature = teacher, alpha, temperature
        self.teacher: tuple[nn.Module, ...] = ()

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit" and not self.teacher:
            self.teacher = (self.teacher_source.load(),)
            self._check_classes()

    def _check_classes(self) -> None:
        width = next(m for m in reversed(list(self.teacher[0].modules())) if hasattr(m, "weight"))
        outputs = getattr(width, "out_features", None)
        expected = 1 if self.task == "binary" else self.num_classes
        if outputs is not None and outputs != expected:
            raise ConfigError(
                "model.teacher.checkpoint",
                self.teacher_source.checkpoint,
                f"a teacher with {expected} outputs like the student; it has {outputs}",
                "distil from a teacher trained on the same data set (same classes)",
            )

    def on_fit_start(self) -> None:
        self.teacher[0].to(self.device)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        y, inputs = batch["target"], inputs_of(batch)
        logits = self(**inputs)
        with torch.no_grad():
            soft = self.teacher[0](**inputs)
        kd = distillation_loss(logits, soft.float(), self.temperature)
        loss = self.alpha * kd + (1 - self.alpha) * self._loss(logits, y)
        self.metrics.record(self, "train", loss, (self.probabilities(logits.detach()), y), len(y))
        self.log("train/distill_kl", kd.detach(), on_step=False, on_epoch=True, batch_size=len(y))
        return loss + self._penalty()


def against_teacher(
    module: pl.LightningModule, trainer: pl.Trainer, datamodule: Any, **kwargs: Any
) -> dict[str, float]:
    """The compression report with the teacher as "before" and the student as "after"."""
    if not isinstance(module, DistilledClassifier):
        raise ConfigError(
            "model._target_", type(module).__name__, "DistilledClassifier (compression=distill)"
        )
    student = module.net
    module.net = module.teacher[0] if module.teacher else module.teacher_source.load()
    return compress(
        module, trainer, datamodule, method=lambda _, __: student, name="distill", **kwargs
    )
