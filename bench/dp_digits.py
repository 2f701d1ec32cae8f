"""DP-SGD on digits: test accuracy at three privacy budgets (δ = 1e-5) beside the same training
without privacy, in one run.

    python bench/dp_digits.py [overrides ...]

Each row is ``python run.py [privacy=dp privacy.target_epsilon=ε] <settings>`` in-process; the
noise multiplier is the smallest that keeps all epochs within ε (RDP accountant), and ε spent
is read back from metrics.json.
"""

import sys
import tempfile
import time
from pathlib import Path

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.experiments.train import train

SETTINGS = ["trainer.max_epochs=20", "optimizer.lr=0.002", "hardware=cpu", "print_config=false"]
BUDGETS = (8.0, 3.0, 1.0)


def one(overrides: list[str], out: Path) -> dict:
    cfg = compose_config([*SETTINGS, "++callbacks.progress_bar=null", *overrides], out)
    start = time.perf_counter()
    metrics = train(cfg)
    return metrics | {"seconds": time.perf_counter() - start}


def row(name: str, m: dict) -> str:
    spent = f"{m['train/epsilon']:.2f}" if "train/epsilon" in m else "∞ (not private)"
    sigma = f"{m['train/noise_multiplier']:.3f}" if "train/noise_multiplier" in m else "0"
    accuracy = f"{m['test/acc']:.4f} | {m['val/acc']:.4f}"
    return f"| {name} | {spent} | {sigma} | {accuracy} | {m['seconds']:.0f} |"


def main(extra: list[str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="dp_bench_"))
    print("| target ε | ε spent | noise multiplier | test/acc | val/acc | seconds |")
    print("|---|---|---|---|---|---|", flush=True)
    print(row("none", one(extra, root / "none")), flush=True)
    for eps in BUDGETS:
        dp = ["privacy=dp", f"privacy.target_epsilon={eps}", *extra]
        print(row(f"{eps:g}", one(dp, root / f"eps_{eps:g}")), flush=True)
    print(f"runs under {root}; settings: {' '.join(SETTINGS + extra)}")


if __name__ == "__main__":
    main(sys.argv[1:])
