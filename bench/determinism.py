"""What ``hardware.deterministic=true`` costs and gives on this machine's CPU.

Trains the default experiment (LeNet-style CNN on digits) ``--epochs`` epochs, alternating
deterministic false and true, ``--repeats`` times each, in this process; prints each run's wall
time and whether the runs of one setting wrote identical metrics.json files.

    OMP_NUM_THREADS=1 python bench/determinism.py --epochs 3 --repeats 2
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src.experiments.train import train  # noqa: E402
from tests.conftest import compose_config  # noqa: E402  the config as run.py composes it


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    times: dict[bool, list[float]] = {False: [], True: []}
    written: dict[bool, list[str]] = {False: [], True: []}
    for i in range(args.repeats):
        for deterministic in (False, True):
            out = tmp / f"{deterministic}-{i}"
            overrides = [
                "hardware=cpu",
                f"hardware.deterministic={str(deterministic).lower()}",
                f"trainer.max_epochs={args.epochs}",
                f"paths.data_dir={ROOT / 'data'}",
                f"paths.log_dir={tmp}",
                "print_config=false",
                "callbacks.progress_bar=null",
            ]
            start = time.perf_counter()
            train(compose_config(overrides, out))
            times[deterministic].append(time.perf_counter() - start)
            metrics = json.loads((out / "metrics.json").read_text())
            written[deterministic].append(json.dumps(metrics, sort_keys=True))
            print(f"deterministic={deterministic!s:<5} run {i}: {times[deterministic][-1]:.2f} s")
    for deterministic in (False, True):
        same = len(set(written[deterministic])) == 1
        median = statistics.median(times[deterministic])
        print(
            f"deterministic={deterministic!s:<5} median {median:.2f} s, "
            f"metrics.json identical across runs: {same}"
        )


if __name__ == "__main__":
    main()
