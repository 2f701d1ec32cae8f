"""Training throughput of the default experiment: 1 vs 2 CPU processes (and 1 GPU if present).

    OMP_NUM_THREADS=1 python bench/ddp_scaling.py [--epochs 4] [--repeats 2]

Each configuration is a real ``python run.py`` (DDP through ``hardware=ddp_cpu``) with a
:class:`Throughput` callback added from the command line; it times training steps after a
warm-up and leaves validation out. Samples/s counts samples of all ranks. Configurations
alternate, so that load from other processes on the machine hits them alike.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

ROOT = Path(__file__).resolve().parents[1]


class Throughput(pl.Callback):
    """Writes ``throughput.json`` (rank 0): samples/s of training steps after ``warmup_steps``.

    Args:
        warmup_steps: optimizer steps left out of the timing (first-step allocation, caches).
    """

    def __init__(self, warmup_steps: int = 5) -> None:
        self.warmup_steps = warmup_steps
        self.start: float | None = None
        self.paused = 0.0
        self.pause_start = 0.0
        self.samples = 0
        self.steps = 0

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.start is None and trainer.global_step == self.warmup_steps:
            self.start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.start is not None:
            self.samples += len(batch[1]) * trainer.world_size  # equal shards on every rank
            self.steps += 1

    def on_validation_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self.pause_start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.start is not None:
            self.paused += time.perf_counter() - self.pause_start

    def on_train_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.is_global_zero and self.start is not None:
            seconds = time.perf_counter() - self.start - self.paused
            result = {
                "world_size": trainer.world_size,
                "steps": self.steps,
                "samples": self.samples,
                "seconds": seconds,
                "samples_per_s": self.samples / seconds,
            }
            Path(trainer.default_root_dir, "throughput.json").write_text(json.dumps(result))


def run(label: str, overrides: list[str], epochs: int, out: Path) -> dict[str, Any]:
    """One training run of the default experiment; its throughput.json."""
    run_dir = out / label
    cmd = [
        sys.executable,
        "run.py",
        *overrides,
        f"trainer.max_epochs={epochs}",
        "test=false",
        "print_config=false",
        "++callbacks.progress_bar=null",
        "+callbacks.throughput={_target_:bench.ddp_scaling.Throughput}",
        f"paths.log_dir={out}",
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads((run_dir / "throughput.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    configs = {
        "cpu x1": ["hardware=cpu"],
        "cpu x2 (ddp_cpu)": ["hardware=ddp_cpu", "hardware.devices=2"],
    }
    import torch

    if torch.cuda.is_available():
        configs["gpu x1"] = ["hardware=gpu"]
    else:
        print("no CUDA GPU visible: GPU row skipped")
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for label, overrides in configs.items():
                result = run(
                    f"{label.split()[0]}{len(best)}_{rep}", overrides, args.epochs, Path(tmp)
                )
                best[label] = max(best.get(label, 0.0), result["samples_per_s"])
                print(
                    f"{label:18s} run {rep}: {result['samples_per_s']:8.0f} samples/s "
                    f"({result['steps']} steps, {result['seconds']:.2f} s)"
                )
    print(f"cpu: {os.cpu_count()} cores visible; best of {args.repeats} per configuration")
    for label, value in best.items():
        print(f"{label:18s} {value:8.0f} samples/s")
    print(f"ratio 2 processes / 1 process: {best['cpu x2 (ddp_cpu)'] / best['cpu x1']:.2f}")
    if "gpu x1" in best:
        print(f"ratio 1 GPU / 1 CPU process: {best['gpu x1'] / best['cpu x1']:.2f}")


if __name__ == "__main__":
    main()
