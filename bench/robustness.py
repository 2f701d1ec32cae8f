"""Standard vs adversarially trained LeNet on digits: clean, FGSM and PGD accuracy per budget.

Trains ``experiment=digits_cnn`` twice, with the default callbacks and with
``callbacks=adversarial`` (PGD-7 at the middle budget), then runs ``mode=attack`` on each best
checkpoint's test split (270 images). Budgets are in pixel units of digits (0..16).

    OMP_NUM_THREADS=2 python bench/robustness.py --epochs 30 --epsilons 1 2 4
"""

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.experiments.attack import attack
from src.experiments.train import train


def run(root: Path, name: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    base = [
        f"paths.log_dir={root / 'outputs'}",
        "hardware=cpu",
        "++callbacks.progress_bar=null",
        "print_config=false",
        f"seed={args.seed}",
    ]
    trained = train(
        compose_config([*base, f"trainer.max_epochs={args.epochs}", *extra], root / name)
    )
    eps = ",".join(f"{e:g}" for e in args.epsilons)
    overrides = [
        *base,
        "mode=attack",
        f"ckpt_path={trained['best_checkpoint']}",
        f"attack.epsilons=[{eps}]",
        f"attack.steps={args.pgd_steps}",
    ]
    return attack(compose_config(overrides, root / f"{name}_attack"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    parser.add_argument("--train-epsilon", type=float, default=None, help="default: middle one")
    parser.add_argument("--pgd-steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    train_eps = args.train_epsilon or sorted(args.epsilons)[len(args.epsilons) // 2]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        adversarial = [
            "callbacks=adversarial",
            f"callbacks.adversarial_training.epsilon={train_eps:g}",
        ]
        rows = {
            "standard": run(root, "standard", args, []),
            f"PGD-7 adversarial training (eps={train_eps:g})": run(
                root, "adversarial", args, adversarial
            ),
        }
    cols = ["clean"] + [f"{m}_eps{e:g}" for e in args.epsilons for m in ("fgsm", "pgd")]
    print(f"\nPGD-{args.pgd_steps} with random start, step 2.5*eps/steps; test split of digits")
    print("| model | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, m in rows.items():
        print(f"| {name} | " + " | ".join(f"{m[f'attack/{c}_acc']:.3f}" for c in cols) + " |")


if __name__ == "__main__":
    main()
