"""Image transfer: a LeNet pretrained on digits 0-4, fine-tuned on 10 images per class of
digits 5-9, against the same network trained from scratch for the same epochs.

Per seed: one pretraining run (experiment=digits_pretrain_0to4), then for each fine-tuning
budget three runs of experiment=digits_finetune_5to9 (the final epoch is tested on every other
image of digits 5-9, ~850): ``pretrained`` (the convolutions transferred, a new dense head,
every layer trains; the experiment's default) and ``scratch`` (model.transfer=null);
``--freeze`` adds ``pretrained+freeze`` (convolutions frozen for 2 epochs, then at a tenth of
the rate). Prints test accuracy per run and mean ± std.

    OMP_NUM_THREADS=1 python bench/transfer_digits.py --seeds 0 1 2 --epochs 3 10
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
FREEZE = (
    "+callbacks.freeze={_target_: src.callbacks.finetuning.FreezeUnfreeze, "
    "modules: [net.features], unfreeze_at_epoch: 2, lr_factor: 0.1}"
)
ARMS = {"pretrained": [], "scratch": ["model.transfer=null"]}


def run(overrides: list[str], out: Path) -> dict[str, float]:
    cfg = compose_config([f"paths.log_dir={out}", *QUIET, *overrides], out / "run")
    return train(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--freeze", action="store_true", help="add the pretrained+freeze arm")
    args = parser.parse_args()
    arms = ARMS | ({"pretrained+freeze": [FREEZE]} if args.freeze else {})
    out = Path(tempfile.mkdtemp(prefix="transfer_bench_"))
    scores: dict[tuple[int, str], list[float]] = {}
    for seed in args.seeds:
        start = time.perf_counter()
        pre = run(["experiment=digits_pretrain_0to4", f"seed={seed}"], out / f"pre{seed}")
        print(f"seed {seed}: pretraining test/acc {pre['test/acc']:.4f}", flush=True)
        ckpt = f"model.transfer.init_from.path={pre['best_checkpoint']}"
        for epochs in args.epochs:
            tune = ["experiment=digits_finetune_5to9", f"seed={seed}", ckpt]
            tune.append(f"trainer.max_epochs={epochs}")
            for arm, extra in arms.items():
                acc = run([*tune, *extra], out / f"{arm}{seed}_{epochs}")["test/acc"]
                scores.setdefault((epochs, arm), []).append(acc)
                print(f"seed {seed}, {epochs} epochs, {arm}: test/acc {acc:.4f}", flush=True)
        print(f"seed {seed} took {time.perf_counter() - start:.0f} s", flush=True)
    for (epochs, arm), values in scores.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        mean = statistics.mean(values)
        print(f"{epochs} epochs, {arm}: test/acc {mean:.4f} ± {std:.4f} over {len(values)} seeds")


if __name__ == "__main__":
    main()
