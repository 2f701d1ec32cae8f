"""What compression cost and gained: size, sparsity, CPU latency and test metrics, before/after.

Latency is the median of repeated timed forward passes after warm-up, with a fixed thread
count, and the two networks are timed in alternation (before, after, before, ...) so that a
machine shared with other work slows both alike; the ratios are the figures to read.
"""

import contextlib
import io
import json
import logging
import statistics
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.loggers import Logger
from rich.console import Console
from rich.table import Table
from torch import nn

log = logging.getLogger(__name__)
Inputs = dict[str, torch.Tensor]


def weight_tensors(net: nn.Module) -> list[torch.Tensor]:
    """The network's stored tensors: parameters, buffers and packed or frozen quantised weights
    (what ``state_dict`` holds, tuples of packed params unpacked, and the packed cells of a
    quantised LSTM/GRU, script objects, opened through their pickled state)."""
    found: list[torch.Tensor] = []

    def add(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, tuple | list):
            for v in value:
                add(v)
        elif isinstance(value, torch.ScriptObject) and hasattr(value, "__getstate__"):
            add(value.__getstate__())

    for value in net.state_dict().values():
        add(value)
    return [t for t in found if t.is_floating_point() or t.is_quantized or t.dtype == torch.int8]


def count(net: nn.Module) -> tuple[int, int]:
    """(elements, non-zero elements) of the weights: 1-D tensors (biases, norms, scales) aside."""
    weights = [t for t in weight_tensors(net) if t.ndim > 1]
    total = sum(t.numel() for t in weights)
    return total, sum(int(_plain(t).count_nonzero()) for t in weights)


def _plain(t: torch.Tensor) -> torch.Tensor:
    """A quantised tensor's integer values; a tensor subclass (torchao) dequantised."""
    if t.is_quantized:
        return t.int_repr()
    return t.dequantize() if type(t) is not torch.Tensor and hasattr(t, "dequantize") else t


def sizes(net: nn.Module) -> dict[str, float]:
    """Bytes of ``torch.save(net.state_dict())`` (the weights as stored on disk), and the same
    file deflated (zlib): unstructured zeros do not shrink the dense tensors stored on disk,
    but a general-purpose compressor squeezes them out."""
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    stored = buffer.getvalue()
    return {"size_bytes": len(stored), "size_bytes_deflated": len(zlib.compress(stored))}


def batch_of(inputs: Inputs, size: int) -> Inputs:
    """``inputs`` (each (B, ...)) repeated or cut along the batch axis to ``size`` samples."""
    out = {}
    for name, x in inputs.items():
        reps = -(-size // x.shape[0])
        out[name] = x.repeat(reps, *[1] * (x.ndim - 1))[:size].cpu()
    return out


def latencies(
    nets: Mapping[str, Callable[..., Any]], inputs: Inputs, repeats: int, warmup: int
) -> dict[str, float]:
    """Median seconds per forward pass of each net on ``inputs``, timed in alternation."""
    times: dict[str, list[float]] = {name: [] for name in nets}
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for name, net in nets.items():
                start = time.perf_counter()
                net(**inputs)
                if i >= warmup:  # warm-up passes (allocation, packing, caches) are not timed
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def measure(
    nets: Mapping[str, nn.Module],
    inputs: Inputs,
    batch_sizes: tuple[int, ...] = (1, 64),
    repeats: int = 50,
    warmup: int = 5,
    threads: int = 1,
    compiled: bool = False,
) -> dict[str, dict[str, float]]:
    """Size, weights and latency of each net (on the CPU, ``threads`` threads), by name; with
    ``compiled``, also the latency of each net compiled by inductor (rows ``<name>_compiled``:
    PT2E graphs run their quantise/dequantise steps as float ops in eager mode, inductor
    replaces them with int8 kernels). Compilation happens in the warm-up passes, untimed."""
    rows: dict[str, dict[str, float]] = {}
    for name, net in nets.items():
        params, nonzero = count(net)
        rows[name] = {"params": params, "nonzero": nonzero, **sizes(net)}
    timed_nets: dict[str, Callable[..., Any]] = dict(nets)
    if compiled:
        # one static graph per batch size (inductor's dynamic-batch int8 conv lowering failed
        # here on the digits CNN with a stride assertion)
        timed_nets |= {
            f"{name}_compiled": torch.compile(net, dynamic=False) for name, net in nets.items()
        }
        rows |= {f"{name}_compiled": {} for name in nets}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with _frozen_weights() if compiled else contextlib.nullcontext():
            for size in batch_sizes:
                timed = latencies(timed_nets, batch_of(inputs, size), repeats, warmup)
                for name, seconds in timed.items():
                    rows[name][f"latency_ms_b{size}"] = 1e3 * seconds
    finally:
        torch.set_num_threads(previous)
    return rows


def _frozen_weights() -> contextlib.AbstractContextManager:
    """Inductor's freezing (weights as constants): what its int8 CPU kernels need (and
    what lets it pre-pack the float model's weights alike)."""
    import torch._inductor.config

    return torch._inductor.config.patch(freezing=True)


def ratio(before: float, after: float) -> float:
    return before / after if after else float("inf")


def summary(rows: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Flat ``compression/<before|after>/<name>`` values and ``compression/<name>_ratio``
    (before / after: above 1 means the compressed model is smaller or faster), and the change
    of each test metric (after - before)."""
    before, after = rows["before"], rows["after"]
    flat = {f"compression/{side}/{k}": float(v) for side in rows for k, v in rows[side].items()}
    sized = ("params", "nonzero", "size_bytes", "size_bytes_deflated")
    for key in (*sized, *[k for k in before if "latency" in k]):
        if key in after:
            flat[f"compression/{key}_ratio"] = ratio(before[key], after[key])
    for key in before:
        if key.startswith("test/") and key in after:
            flat[f"compression/{key}_change"] = float(after[key]) - float(before[key])
    compiled_before, compiled_after = rows.get("before_compiled", {}), rows.get("after_compiled")
    for key, value in compiled_before.items():
        if compiled_after and key in compiled_after:
            flat[f"compression/compiled_{key}_ratio"] = ratio(value, compiled_after[key])
    return flat


def show(rows: Mapping[str, Mapping[str, float]], title: str, suffix: str = "") -> None:
    """The before/after table on the console (``suffix="_compiled"``: the compiled pair)."""
    table = Table(title=title)
    for column in ("", "before", "after", "before / after"):
        table.add_column(column, justify="right" if column else "left")
    for key, b in rows[f"before{suffix}"].items():
        a = rows[f"after{suffix}"].get(key)
        if a is None:
            continue
        change = f"{a - b:+.4f}" if key.startswith("test/") else f"{ratio(b, a):.2f}x"
        table.add_row(key, _fmt(b), _fmt(a), change)
    Console().print(table)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 10 else f"{value:.4g}"


def write(
    rows: Mapping[str, Mapping[str, float]],
    settings: Mapping[str, Any],
    out: Path,
    loggers: list[Logger],
    step: int,
) -> dict[str, float]:
    """``compression_report.json`` in ``out``, the table, and the flat summary logged to
    ``loggers``; returns the summary (for metrics.json)."""
    flat = summary(rows)
    out.mkdir(parents=True, exist_ok=True)
    report = {"settings": dict(settings), **{k: dict(v) for k, v in rows.items()}, "summary": flat}
    (out / "compression_report.json").write_text(json.dumps(report, indent=2, default=str))
    show(rows, f"compression: {settings.get('method', '')}")
    if "before_compiled" in rows:
        show(rows, "the same, compiled (torch.compile, inductor)", "_compiled")
    for logger in loggers:
        logger.log_metrics(flat, step=step)
    return flat
