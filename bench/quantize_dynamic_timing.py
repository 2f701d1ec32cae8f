"""Dynamic int8 timing without training: the issue-13 network shapes (the 1024- and
2048-wide digits MLPs, the 256-wide 2-layer bidirectional LSTM on MNIST-1D) at random init,
fp32 vs the eager and torchao backends of ``quantize_dynamic``, timed in alternation in one
process by the same ``report.measure`` the compression report uses (median of repeated
passes, warm-up excluded, one thread). Seconds to run, so it can be repeated when the machine
is quieter than during the full ``bench/compression.py`` cases (which train first and also
measure accuracy).

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/quantize_dynamic_timing.py
"""

import copy
import json

import torch
from torch import nn

from src.compression import report
from src.compression.quantization import quantize_dynamic
from src.networks.gru import GRUClassifier
from src.networks.mlp import MLP

REPEATS, WARMUP = 50, 5


def nets(net: nn.Module, backends: tuple[str, ...]) -> dict[str, nn.Module]:
    """fp32 ``net`` and its dynamic int8 copies, one per backend, all in eval mode."""
    out = {"fp32": net.eval()}
    for backend in backends:
        out[backend] = quantize_dynamic(copy.deepcopy(net), backend=backend).eval()
    return out


def main() -> None:
    torch.manual_seed(0)
    cases = {
        "mlp1024": (MLP([1, 8, 8], 10, [1024, 1024], 0.2, True), [1, 8, 8], ("eager", "torchao")),
        "mlp2048": (MLP([1, 8, 8], 10, [2048, 2048], 0.2, True), [1, 8, 8], ("eager",)),
        "lstm256": (GRUClassifier([1, 40], 10, 256, 2, True, 0.1, "lstm"), [1, 40], ("eager",)),
    }
    for name, (net, shape, backends) in cases.items():
        inputs = {"x": torch.randn(8, *shape)}
        rows = report.measure(nets(net, backends), inputs, (1, 64), REPEATS, WARMUP, threads=1)
        shown = {k: {m: round(v, 4) for m, v in row.items()} for k, row in rows.items()}
        for backend in backends:
            for key in ("size_bytes", "latency_ms_b1", "latency_ms_b64"):
                ratio = report.ratio(rows["fp32"][key], rows[backend][key])
                shown[backend][f"{key}_ratio"] = round(ratio, 3)
        print(f"RESULT {name} {json.dumps(shown)}", flush=True)


if __name__ == "__main__":
    main()
