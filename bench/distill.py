"""Knowledge distillation on MNIST-1D: a small student trained with a teacher's soft targets
against the same student trained alone, same epochs, over several seeds.

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/distill.py [--seeds 0 1 2] [--epochs 40]
        [--alpha 0.5] [--temperature 4] [--student model=mlp 'model.net.hidden=[64,32]']

The teacher is ``experiment=mnist1d_cnn`` (trained once, seed 0); each seed then trains the
student alone and the student with ``compression=distill`` from that teacher. Prints each
seed's test accuracy (best checkpoint by val/acc), the means and the parameter ratio.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.experiments import build
from src.experiments.train import train

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["hardware=cpu", "logger=none", "print_config=false", "++callbacks.progress_bar=null"]
BASE = ["experiment=mnist1d_cnn"]
STUDENT = ["model=mlp", "model.net.hidden=[64,32]"]


def overrides(root: Path, *extra: str) -> list[str]:
    data = f"paths.data_dir={ROOT / 'data'}"
    return [f"paths.log_dir={root / 'outputs'}", data, *COMMON, *BASE, *extra]


def fit(root: Path, name: str, extra: list[str]) -> dict:
    started = time.perf_counter()
    metrics = train(compose_config(overrides(root, *extra), root / name))
    print(f"  {name}: test/acc {metrics['test/acc']:.4f} ({time.perf_counter() - started:.0f} s)")
    return metrics


def parameters(root: Path, extra: list[str]) -> int:
    net = build.module(compose_config(overrides(root, *extra), root / "count")).net
    return sum(p.numel() for p in net.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40, help="student epochs (both arms)")
    parser.add_argument("--teacher-epochs", type=int, default=40)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--student", nargs="+", default=STUDENT, help="overrides for the student")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        teacher = fit(root, "teacher", [f"trainer.max_epochs={args.teacher_epochs}", "seed=0"])
        ratio = parameters(root, []) / parameters(root, args.student)
        distill = [
            "compression=distill",
            f"model.teacher.checkpoint={teacher['best_checkpoint']}",
            f"model.alpha={args.alpha}",
            f"model.temperature={args.temperature}",
        ]
        alone, distilled = [], []
        for seed in args.seeds:
            student = [*args.student, f"trainer.max_epochs={args.epochs}", f"seed={seed}"]
            alone.append(fit(root, f"alone_{seed}", student)["test/acc"])
            distilled.append(fit(root, f"distilled_{seed}", [*student, *distill])["test/acc"])
            print(f"RESULT seed {seed}: alone {alone[-1]:.4f}  distilled {distilled[-1]:.4f}")
    gain = statistics.mean(distilled) - statistics.mean(alone)
    print(f"RESULT teacher test/acc {teacher['test/acc']:.4f}, {ratio:.1f}x the student's size")
    print(f"RESULT student {' '.join(args.student)} alpha={args.alpha} T={args.temperature}")
    print(
        f"RESULT mean over {len(args.seeds)} seeds: alone {statistics.mean(alone):.4f} "
        f"(sd {statistics.stdev(alone) if len(alone) > 1 else 0:.4f}), distilled "
        f"{statistics.mean(distilled):.4f} (sd "
        f"{statistics.stdev(distilled) if len(distilled) > 1 else 0:.4f}), "
        f"gain {100 * gain:+.2f} points"
    )


if __name__ == "__main__":
    main()
