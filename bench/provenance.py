"""What recording provenance adds to a run: the one-off capture and the data fingerprint.

Times, in a fresh process, the first ``provenance.save`` (distribution metadata scan, git status
and diff, machine and GPU queries, writing the files) and then ``--repeats`` more, each part on
its own; then the data fingerprint of the default data set (digits) and of a CIFAR-10-sized
uint8 training split held in memory. Lists the Lightning hooks the fingerprint callback
implements, to show that nothing runs per step.

    OMP_NUM_THREADS=1 python bench/provenance.py --repeats 5
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src.callbacks.provenance import DataFingerprint  # noqa: E402
from src.data import fingerprint  # noqa: E402
from src.experiments import build  # noqa: E402
from src.utils import provenance  # noqa: E402
from tests.conftest import compose_config  # noqa: E402  the config as run.py composes it


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def line(name: str, times: list[float]) -> str:
    med = statistics.median(times) * 1e3
    return f"{name:<34} first {times[0] * 1e3:7.1f} ms   median {med:7.1f} ms   (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp())
    cfg = compose_config(["hardware=cpu", f"paths.data_dir={ROOT / 'data'}"], out)
    n = args.repeats + 1
    parts = {
        "provenance.save (all of it)": lambda: provenance.save(cfg, out),
        "  installed distributions": provenance.installed,
        "  git status + diff": lambda: provenance.git_state(
            provenance.CODE_ROOT, provenance.git_patch(provenance.CODE_ROOT)
        ),
        "  machine": provenance.machine,
        "  gpu": provenance.gpu,
    }
    for name, fn in parts.items():
        print(line(name, [timed(fn) for _ in range(n)]))

    datamodule = build.datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    times = [timed(lambda: fingerprint.of_datamodule(datamodule, "fit")) for _ in range(n)]
    print(line("data fingerprint, digits", times))
    cifar = {"x": torch.randint(0, 256, (50000, 3, 32, 32), dtype=torch.uint8)}
    times = [timed(lambda: fingerprint.of_tensors(cifar)) for _ in range(n)]
    print(line("data fingerprint, 50000x3x32x32 uint8", times))
    own = [h for h in vars(DataFingerprint) if h in vars(Callback) and callable(vars(Callback)[h])]
    print(f"DataFingerprint implements: {', '.join(own)}")


if __name__ == "__main__":
    main()
