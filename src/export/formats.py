"""Writing an :class:`~src.export.model.InferenceModel` as ONNX, ``torch.export`` or TorchScript,
and checking each written file against the eager model on held-out samples."""

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from src.errors import ConfigError, UserError
from src.export.model import Batch, InferenceModel

log = logging.getLogger(__name__)

FORMATS = ("onnx", "pt2", "torchscript")
SUFFIX = {"onnx": ".onnx", "pt2": ".pt2", "torchscript": ".torchscript.pt"}
Runner = Callable[[Batch], np.ndarray]


def write(fmt: str, model: InferenceModel, example: Batch, path: Path, opset: int | None) -> Runner:
    """Write ``model`` in format ``fmt`` to ``path``; returns a function running the written file.

    The batch axis of every input is dynamic: ``example`` (two samples or more) fixes the rest.
    """
    if fmt == "onnx":
        return _onnx(model, example, path, opset)
    if fmt == "pt2":
        return _pt2(model, example, path)
    if fmt == "torchscript":
        return _torchscript(model, example, path)
    raise ConfigError("export.formats", fmt, f"one of {', '.join(FORMATS)}")


def _batch_axis(names: list[str]) -> tuple[tuple[dict[int, Any], ...]]:
    """A dynamic first axis for each input of ``forward(*inputs)`` (one varargs argument)."""
    batch = torch.export.Dim("batch", min=1)
    return (tuple({0: batch} for _ in names),)


def _args(model: InferenceModel, batch: Batch) -> tuple[torch.Tensor, ...]:
    return tuple(batch[name] for name in model.names)


def _onnx(model: InferenceModel, example: Batch, path: Path, opset: int | None) -> Runner:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise UserError(
            "export.formats=[onnx] needs onnx, onnxscript and onnxruntime, which are not "
            "installed. Fix: pip install 'hydralit[export]'"
        ) from e
    args = _args(model, example)
    try:
        _to_onnx(model, args, path, opset, dynamo=True)
    except Exception as e:  # the exporter's failures have no common type
        log.warning("the dynamo ONNX exporter failed (%s); using the TorchScript-based one", e)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            _to_onnx(model, args, path, opset, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(batch: Batch) -> np.ndarray:
        feeds = {name: batch[name].numpy() for name in model.names}
        return np.asarray(session.run(None, feeds)[0])

    return run


def _to_onnx(
    model: InferenceModel,
    args: tuple[torch.Tensor, ...],
    path: Path,
    opset: int | None,
    dynamo: bool,
) -> None:
    """``torch.onnx.export`` with a dynamic batch axis, declared as each exporter wants it."""
    names = list(model.names)
    batch: dict[str, Any] = (
        {"dynamic_shapes": _batch_axis(names)}
        if dynamo
        else {"dynamic_axes": {name: {0: "batch"} for name in [*names, "output"]}}
    )
    torch.onnx.export(
        model,
        args,
        str(path),
        input_names=names,
        output_names=["output"],
        opset_version=opset,
        dynamo=dynamo,
        **batch,
    )


def _pt2(model: InferenceModel, example: Batch, path: Path) -> Runner:
    program = torch.export.export(
        model, _args(model, example), dynamic_shapes=_batch_axis(model.names)
    )
    torch.export.save(program, str(path))
    loaded = torch.export.load(str(path)).module()

    def run(batch: Batch) -> np.ndarray:
        with torch.no_grad():
            return loaded(*_args(model, batch)).numpy()

    return run


def _torchscript(model: InferenceModel, example: Batch, path: Path) -> Runner:
    lightning = [m for m in model.modules() if isinstance(m, pl.LightningModule)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated: exported on request only
        for m in lightning:  # its `trainer` property raises outside a Trainer, unless scripting
            m._jit_is_scripting = True
        try:
            traced = torch.jit.trace(model, _args(model, example))
        finally:
            for m in lightning:
                m._jit_is_scripting = False
        traced.save(str(path))
        loaded = torch.jit.load(str(path))

    def run(batch: Batch) -> np.ndarray:
        with torch.no_grad():
            return loaded(*_args(model, batch)).numpy()

    return run


def parity(expected: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Max absolute difference, the same relative to the output's scale (divided by
    max(1, max |expected|): float32 rounding grows with the values), and for (N, K>1) outputs
    the share of equal argmaxes."""
    if got.shape != expected.shape:
        return {"max_abs_diff": float("inf"), "scaled_diff": float("inf"), "argmax_agreement": 0.0}
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    scale = max(1.0, float(np.max(np.abs(expected)))) if got.size else 1.0
    result = {"max_abs_diff": diff, "scaled_diff": diff / scale}
    if expected.ndim == 2 and expected.shape[1] > 1:
        same = expected.argmax(1) == got.argmax(1)
        result["argmax_agreement"] = float(same.mean())
    return result
