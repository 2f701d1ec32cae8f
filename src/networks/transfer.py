"""Transfer learning: start a network from weights trained elsewhere (``model.transfer``).

Weights come from a checkpoint this framework wrote (:class:`Checkpoint`, the ``net.*``
tensors of any module) or from a plain ``state_dict`` file such as torchvision's
``resnet18-f37072fd.pth`` (:class:`StateDictFile`). Loading is partial: tensors whose name
and shape match are copied, and the report names the network's keys left at their fresh
initialisation (missing, or of another shape, e.g. a new head) and the file's keys not used.
"""

import fnmatch
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from src.errors import ConfigError
from src.networks.lora import LoRA

log = logging.getLogger(__name__)
TORCHVISION_URL = "https://download.pytorch.org/models/"


@dataclass
class LoadReport:
    """What a partial load did, key by key (the network's own names)."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.loaded)} tensors loaded"]
        for name in ("missing", "mismatched", "unexpected", "skipped"):
            keys = getattr(self, name)
            if keys:
                shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
                parts.append(f"{len(keys)} {name} ({shown})")
        return "; ".join(parts)


def load_partial(
    net: nn.Module, weights: dict[str, torch.Tensor], skip: Sequence[str] = ()
) -> LoadReport:
    """Copy into ``net`` the tensors of ``weights`` whose name and shape match its own.

    Args:
        net: the network, changed in place.
        weights: name -> tensor, in the network's naming.
        skip: glob patterns over the network's keys that keep their fresh initialisation.
    """
    own = net.state_dict()
    report = LoadReport(unexpected=sorted(set(weights) - set(own)))
    chosen = {}
    for key, tensor in own.items():
        if any(fnmatch.fnmatch(key, p) for p in skip):
            report.skipped.append(key)
        elif key not in weights:
            report.missing.append(key)
        elif weights[key].shape != tensor.shape:
            report.mismatched.append(f"{key} {list(weights[key].shape)}->{list(tensor.shape)}")
        else:
            chosen[key] = weights[key]
            report.loaded.append(key)
    net.load_state_dict(chosen, strict=False)
    return report


def _existing(key: str, path: str, fix: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(key, path, "an existing file", fix)
    return file


class Checkpoint:
    """The network weights of a checkpoint this framework wrote (``<run>/checkpoints/*.ckpt``).

    Args:
        path: the checkpoint file.
        prefix: the module's attribute holding the network; its tensors are ``<prefix>*``.
        skip: glob patterns over the network's keys not to load (e.g. ``head.*`` for a new head).
    """

    key = "model.transfer.init_from.path"

    def __init__(self, path: str, prefix: str = "net.", skip: Sequence[str] = ()) -> None:
        self.path, self.prefix, self.skip = path, prefix, list(skip)

    def weights(self) -> dict[str, torch.Tensor]:
        fix = "give a checkpoint a training run wrote, e.g. <run dir>/checkpoints/last.ckpt"
        file = _existing(self.key, self.path, fix)
        state = torch.load(file, map_location="cpu", weights_only=False).get("state_dict", {})
        weights = {k.removeprefix(self.prefix): v for k, v in state.items()}
        if not any(k.startswith(self.prefix) for k in state):
            found = sorted({k.split(".")[0] + "." for k in state})
            raise ConfigError(
                "model.transfer.init_from.prefix", self.prefix, f"one of {found}", fix=None
            )
        return {k: v for k, v in weights.items() if f"{self.prefix}{k}" in state}


class StateDictFile:
    """A plain ``state_dict`` file, e.g. torchvision's ``resnet18-f37072fd.pth`` (offline: no
    download; the error says where to get it).

    Args:
        path: the ``.pth`` file.
        prefix: a prefix of the file's keys to strip (``""``: none).
        skip: glob patterns over the network's keys not to load (e.g. ``fc.*``).
    """

    key = "model.transfer.init_from.path"

    def __init__(self, path: str, prefix: str = "", skip: Sequence[str] = ()) -> None:
        self.path, self.prefix, self.skip = path, prefix, list(skip)

    def weights(self) -> dict[str, torch.Tensor]:
        name = Path(self.path).name
        fix = (
            f"download {TORCHVISION_URL}{name} (torchvision weights) on a machine with internet "
            f"and copy it to {self.path}, or give the path of a saved state_dict"
        )
        state = torch.load(_existing(self.key, self.path, fix), map_location="cpu")
        if not isinstance(state, dict):
            raise ConfigError(self.key, self.path, "a state_dict (name -> tensor)", fix)
        state = state.get("state_dict", state)
        return {k.removeprefix(self.prefix): v for k, v in state.items()}


class Transfer:
    """Where a network's weights start from and which of them train (``model.transfer``).

    Args:
        init_from: a :class:`Checkpoint` or :class:`StateDictFile`; None keeps the fresh weights.
        lora: low-rank adapters beside the (then frozen) linear layers; only they (and
            ``trainable``) train.
        trainable: glob patterns over the network's parameter names that stay trainable
            under ``lora`` (e.g. ``head.*``, the new classifier).
        lr_multipliers: glob pattern over the module's parameter names (``net.features.*``)
            -> factor on the learning rate: discriminative learning rates.
    """

    def __init__(
        self,
        init_from: Checkpoint | StateDictFile | None = None,
        lora: LoRA | None = None,
        trainable: Sequence[str] = (),
        lr_multipliers: Mapping[str, float] | None = None,
    ) -> None:
        self.init_from, self.lora, self.trainable = init_from, lora, list(trainable)
        self.lr_multipliers = dict(lr_multipliers or {})

    def apply(self, net: nn.Module) -> nn.Module:
        """Load the weights into ``net`` and add adapters (in place); logs what it did."""
        if self.init_from is not None:
            report = load_partial(net, self.init_from.weights(), self.init_from.skip)
            if not report.loaded:
                raise ConfigError(
                    "model.transfer.init_from",
                    getattr(self.init_from, "path", None),
                    "weights with names and shapes of this network's",
                    f"this network's keys look like {next(iter(net.state_dict()), '?')!r}; "
                    "set init_from.prefix, or give the checkpoint of the same model.net. "
                    + report.summary(),
                )
            log.info("transfer from %s: %s", self.init_from.path, report.summary())
        if self.lora is not None:
            self.lora.apply(net)
            for name, p in net.named_parameters():
                if any(fnmatch.fnmatch(name, pattern) for pattern in self.trainable):
                    p.requires_grad_(True)
        log.info("trainable parameters: %s", trainable_count(net))
        return net


def trainable_count(net: nn.Module) -> str:
    """``"<trainable> of <total> (<percent> %)"`` over ``net``'s parameters."""
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    total = sum(p.numel() for p in net.parameters())
    return f"{trainable:,} of {total:,} ({100 * trainable / max(total, 1):.2f} %)"
