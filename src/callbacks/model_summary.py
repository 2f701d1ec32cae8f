"""``model_summary.txt`` and ``.json`` in every run directory: the layers, the shapes that went
through them on the run's first batch, and their parameter counts."""

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


def _shape(value: Any) -> Any:
    """Tensor -> [dims]; tuples, lists and dicts of tensors -> the same structure of shapes."""
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, list | tuple):
        return [_shape(v) for v in value]
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return None


class ModelSummaryFile(pl.Callback):
    """Records the module's layers (to ``max_depth`` dots deep) on the first batch of whatever
    loop runs first (fit, validate, test or predict) and writes the summary once.

    Layers that did not run on that batch (metric objects, losses not called) are left out.

    Args:
        output_dir: the run directory.
        max_depth: deepest layer name listed: 1 shows ``net``, 3 ``net.features.0``.
    """

    def __init__(self, output_dir: str, max_depth: int = 3) -> None:
        self.output_dir, self.max_depth = Path(output_dir), max_depth
        self.handles: list[RemovableHandle] = []
        self.rows: dict[str, dict[str, Any]] = {}
        self.written = False

    def _start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.written or self.handles or not trainer.is_global_zero:
            return
        for name, layer in pl_module.named_modules():
            if name and name.count(".") < self.max_depth:
                self.handles.append(layer.register_forward_hook(self._hook(name), with_kwargs=True))

    def _hook(self, name: str) -> Any:
        def record(layer: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
            if name in self.rows:
                return
            inputs = _shape(list(args)) + ([_shape(kwargs)] if kwargs else [])
            params = sum(p.numel() for p in layer.parameters())
            self.rows[name] = {"type": type(layer).__name__, "params": params}
            self.rows[name] |= {"input_shapes": inputs, "output_shape": _shape(output)}

        return record

    def _end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.handles:
            return
        for handle in self.handles:
            handle.remove()
        self.handles = []
        self._write(pl_module)
        self.written = True

    def _write(self, module: nn.Module) -> None:
        params = list(module.parameters())
        totals = {
            "parameters": sum(p.numel() for p in params),
            "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
            "size_mb": sum(p.numel() * p.element_size() for p in params) / 2**20,
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # in the module's own order (the hooks fire as each layer finishes: innermost first)
        layers = {n: self.rows[n] for n, _ in module.named_modules() if n in self.rows}
        info = {"module": type(module).__name__, **totals, "layers": layers}
        (self.output_dir / "model_summary.json").write_text(json.dumps(info, indent=2))
        (self.output_dir / "model_summary.txt").write_text(_table(info))

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._start(trainer, pl_module)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._end(trainer, pl_module)

    def on_validation_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._start(trainer, pl_module)

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._end(trainer, pl_module)

    def on_test_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._start(trainer, pl_module)

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._end(trainer, pl_module)

    def on_predict_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._start(trainer, pl_module)

    def on_predict_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any
    ) -> None:
        self._end(trainer, pl_module)


def _table(info: dict[str, Any]) -> str:
    header = ("layer", "type", "params", "input shapes", "output shape")
    rows = [
        (name, r["type"], f"{r['params']:,}", str(r["input_shapes"]), str(r["output_shape"]))
        for name, r in info["layers"].items()
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [
        "",
        f"{info['module']}: {info['parameters']:,} parameters "
        f"({info['trainable_parameters']:,} trainable), {info['size_mb']:.2f} MB",
    ]
    return "\n".join(lines) + "\n"
