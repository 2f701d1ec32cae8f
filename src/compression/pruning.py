"""Pruning: unstructured L1 magnitude pruning while training (Lightning's ModelPruning on a
cubic schedule), and channel pruning that really shrinks the network (torch-pruning).
"""

import copy
import logging
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelPruning
from torch import nn

from src.compression.transform import Context, compress, compression_info
from src.errors import ConfigError, UserError

log = logging.getLogger(__name__)
PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def check_sparsity(key: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(key, value, "a fraction in [0, 1)", "e.g. 0.8 removes 80 %")


class CubicSparsity:
    """The amount to prune at the start of each epoch so that the sparsity the epoch trains at
    follows s(t) = target * (1 - (1 - t)^3) over ``ramp * epochs`` epochs (Zhu & Gupta 2017):
    fast at first, slow as the network has less to give. The first ``start * epochs`` epochs
    train the dense network; the epochs after the ramp fine-tune with the masks held.
    ``ramp: 0`` prunes once.

    ModelPruning prunes a fraction of what is left, so the epoch's amount is the step from
    the previous total: 1 - (1 - s_now) / (1 - s_before).
    """

    def __init__(self, target: float, epochs: int, start: float = 0.0, ramp: float = 0.5) -> None:
        check_sparsity("compression.sparsity", target)
        self.target, self.start = target, round(start * epochs)
        self.end = self.start + max(0, round(ramp * epochs) - 1)
        if start < 0 or self.end >= epochs:
            raise ConfigError(
                "compression.start",
                start,
                f"a fraction of the {epochs} epochs such that start + ramp (compression.ramp="
                f"{ramp}) ends by the last epoch",
                "lower compression.start or compression.ramp, or raise trainer.max_epochs",
            )

    def total(self, epoch: int) -> float:
        """The sparsity ``epoch`` trains at."""
        if epoch < self.start:
            return 0.0
        if epoch >= self.end:
            return self.target
        t = (epoch - self.start + 1) / (self.end - self.start + 1)
        return self.target * (1 - (1 - t) ** 3)

    def __call__(self, epoch: int) -> float:
        before = self.total(epoch - 1) if epoch > 0 else 0.0
        return 1 - (1 - self.total(epoch)) / (1 - before)


class MagnitudePruning(ModelPruning):
    """L1 magnitude pruning of the weights of Linear and Conv layers (never norms or biases),
    made permanent at the end of training. Keeps the two networks the report compares: the
    dense weights as they were just before the first pruning step, and the last epoch's pruned
    ones (schedule done, fine-tuned with the masks held; the best checkpoint may predate it).

    Each epoch's pruning step comes at its start, not at its end as in ModelPruning: so an
    epoch's validation score and checkpoint belong to the weights that epoch trained.
    """

    def __init__(self, amount: CubicSparsity, use_global_unstructured: bool = True) -> None:
        super().__init__(
            pruning_fn="l1_unstructured",
            amount=amount,
            use_global_unstructured=use_global_unstructured,
            make_pruning_permanent=True,
            verbose=0,
        )
        self.dense: dict[str, torch.Tensor] | None = None
        self.final: dict[str, torch.Tensor] | None = None

    def filter_parameters_to_prune(self, parameters_to_prune: Any = ()) -> Any:
        return [(m, n) for m, n in parameters_to_prune if isinstance(m, PRUNABLE)]

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = pl_module.current_epoch
        amount = self.amount(epoch) if callable(self.amount) else self.amount
        if self.dense is None and amount:  # this epoch's step is the first to prune
            self.dense = _cpu_copy(pl_module.state_dict())
        self._run_pruning(epoch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Nothing: the epoch's pruning step came at its start."""

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)  # makes the pruning permanent
        self.final = _cpu_copy(pl_module.state_dict())


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _network_state(state: dict[str, torch.Tensor] | None, network: str) -> dict[str, Any]:
    prefix = f"{network}."
    return {k[len(prefix) :]: v for k, v in (state or {}).items() if k.startswith(prefix)}


def against_dense(
    module: pl.LightningModule,
    trainer: pl.Trainer,
    datamodule: Any,
    network: str = "net",
    **kwargs: Any,
) -> dict[str, float]:
    """The compression report of :class:`MagnitudePruning`: the dense network as it was just
    before the first pruning step ("before") against the pruned, permanent network of the
    last epoch ("after")."""
    found = [cb for cb in trainer.callbacks if isinstance(cb, MagnitudePruning)]  # type: ignore[attr-defined]
    if not found or found[0].final is None:
        raise UserError(
            "compression=prune_magnitude: no pruned weights to report: the MagnitudePruning "
            "callback did not finish training (was compression.callbacks.pruning removed?)"
        )
    pruning = found[0]
    if pruning.dense is None and pruning.amount.target > 0:  # type: ignore[union-attr]
        raise UserError(
            "compression=prune_magnitude: no dense weights to report: this training never saw "
            "the first pruning step (resumed after it?); train from the start to compare"
        )
    pruned = copy.deepcopy(getattr(module, network))
    pruned.load_state_dict(_network_state(pruning.final, network))
    dense = pruning.dense if pruning.dense is not None else pruning.final  # sparsity 0
    getattr(module, network).load_state_dict(_network_state(dense, network))

    def method(_: nn.Module, context: Context) -> nn.Module:
        context.info["target_sparsity"] = pruning.amount.target  # type: ignore[union-attr]
        return pruned

    kwargs |= {"method": method, "name": "prune_magnitude", "network": network}
    return compress(module, trainer, datamodule, **kwargs)


def _output_layers(net: nn.Module, example: dict[str, torch.Tensor]) -> list[nn.Module]:
    """Layers whose outputs are the network's outputs (their width is the task's: kept)."""
    with torch.no_grad():
        width = net(**example).shape[-1]
    last = [m for m in net.modules() if isinstance(m, PRUNABLE)][-1:]
    return [m for m in last if getattr(m, "out_features", getattr(m, "out_channels", 0)) == width]


def prune_channels(
    net: nn.Module, context: Context, *, ratio: float = 0.5, fine_tune_epochs: int = 3
) -> nn.Module:
    """Removes ``ratio`` of the channels (filters, hidden units) of every prunable layer, by
    L1 norm, following torch-pruning's dependency graph (a conv's channels go with its batch
    norm's and the next layer's inputs), then fine-tunes; the output layer keeps its width."""
    check_sparsity("compression.ratio", ratio)
    try:
        import torch_pruning as tp
    except ImportError as e:
        raise UserError(
            "prune_structured needs torch-pruning: pip install -e '.[compression]'"
        ) from e
    net.eval()
    pruner = tp.pruner.MetaPruner(
        net,
        example_inputs=context.example,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ratio,
        ignored_layers=_output_layers(net, context.example),
    )
    pruner.step()
    tuned = context.fine_tune(net, fine_tune_epochs)
    context.info |= {"ratio": ratio, "structure": widths(tuned)}
    return tuned


WIDTHS = ("in_features", "out_features", "in_channels", "out_channels", "num_features")


def widths(net: nn.Module) -> dict[str, dict[str, int]]:
    """Each layer's width attributes (what a channel pruner changes besides tensor shapes)."""
    found = {n: {a: getattr(m, a) for a in WIDTHS if hasattr(m, a)} for n, m in net.named_modules()}
    return {n: w for n, w in found.items() if w}


def restore_channels(
    module: pl.LightningModule, checkpoint: str | None, network: str = "net"
) -> pl.LightningModule:
    """``module`` with its network's layers cut to the checkpoint's widths, ready to load it:
    each tensor whose shape differs from the checkpoint's is replaced by an empty one of that
    shape (the checkpoint's values are loaded into it next)."""
    info, state = compression_info(checkpoint, "prune_structured")
    net = getattr(module, network)
    for name, layer in net.named_modules():
        for attr, value in info["structure"].get(name, {}).items():
            setattr(layer, attr, value)
        prefix = f"{network}.{name}." if name else f"{network}."
        for pname, p in list(layer.named_parameters(recurse=False)):
            shape = state[prefix + pname].shape
            if p.shape != shape:
                setattr(layer, pname, nn.Parameter(torch.empty(shape, dtype=p.dtype)))
        for bname, b in list(layer.named_buffers(recurse=False)):
            if b is not None and b.shape != state[prefix + bname].shape:
                layer.register_buffer(
                    bname, torch.empty(state[prefix + bname].shape, dtype=b.dtype)
                )
    return module
