"""Image transfer: a LeNet pretrained on digits 0-4, fine-tuned on 10 images per class of
digits 5-9, against the same network trained from scratch for the same epochs.

Per seed: one pretraining run (experiment=digits_pretrain_0to4), then both fine-tuning runs
(experiment=digits_finetune_5to9, with and without model.transfer); the fine-tuning test split
is every other image of digits 5-9 (~850). Prints test accuracy per seed and mean ± std.

    OMP_NUM_THREADS=1 python bench/transfer_digits.py --seeds 0 1 2
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.experiments.train import train

QUIET = ["print_config=false", "callbacks.progress_bar=null", "logger=none"]


def run(overrides: list[str], out: Path) -> dict[str, float]:
    cfg = compose_config([f"paths.log_dir={out}", *QUIET, *overrides], out / "run")
    return train(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs (both arms)")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="transfer_bench_"))
    scores: dict[str, list[float]] = {"pretrained": [], "scratch": []}
    for seed in args.seeds:
        start = time.perf_counter()
        pre = run(["experiment=digits_pretrain_0to4", f"seed={seed}"], out / f"pre{seed}")
        tune = [
            "experiment=digits_finetune_5to9",
            f"seed={seed}",
            f"trainer.max_epochs={args.epochs}",
        ]
        ckpt = f"model.transfer.init_from.path={pre['best_checkpoint']}"
        tuned = run([*tune, ckpt], out / f"tuned{seed}")
        scratch = run([*tune, "model.transfer=null", "~callbacks.freeze"], out / f"scratch{seed}")
        scores["pretrained"].append(tuned["test/acc"])
        scores["scratch"].append(scratch["test/acc"])
        print(
            f"seed {seed}: pretrain test/acc {pre['test/acc']:.4f}; fine-tune test/acc "
            f"pretrained {tuned['test/acc']:.4f}, scratch {scratch['test/acc']:.4f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    for arm, values in scores.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{arm}: test/acc {statistics.mean(values):.4f} ± {std:.4f} over {len(values)} seeds")


if __name__ == "__main__":
    main()
