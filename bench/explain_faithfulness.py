"""Faithfulness of integrated-gradients attributions, and a few attributed digits.

Trains ``experiment=digits_cnn`` and ``experiment=breast_cancer_mlp``, runs ``mode=explain`` on
each best checkpoint (test split), prints the deletion curve (digits: probability of the
predicted class as the most attributed / random pixels are set to 0) and the accuracy with
each row's top-k / bottom-k features replaced by their means (breast cancer), and copies the
first digits' overlays to ``bench/explain_digits_<i>.png``.

    OMP_NUM_THREADS=2 python bench/explain_faithfulness.py --epochs 10
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.experiments.explain import explain
from src.experiments.train import train

HERE = Path(__file__).resolve().parent


def run(root: Path, experiment: str, epochs: int) -> tuple[dict[str, Any], Path]:
    base = [
        f"paths.log_dir={root / 'outputs'}",
        "hardware=cpu",
        "++callbacks.progress_bar=null",
        "print_config=false",
        f"experiment={experiment}",
    ]
    trained = train(compose_config([*base, f"trainer.max_epochs={epochs}"], root / experiment))
    overrides = [*base, "mode=explain", f"ckpt_path={trained['best_checkpoint']}"]
    folder = root / f"{experiment}_explain"
    return explain(compose_config(overrides, folder)) | {"test/acc": trained["test/acc"]}, folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        digits, folder = run(root, "digits_cnn", args.epochs)
        info = json.loads((folder / "explanations" / "attributions.json").read_text())
        for i in range(args.images):
            shutil.copy(
                folder / "explanations" / f"sample_{i:03d}.png", HERE / f"explain_digits_{i}.png"
            )
        shutil.copy(folder / "explanations" / "deletion.png", HERE / "explain_digits_deletion.png")
        cancer, _ = run(root, "breast_cancer_mlp", 4 * args.epochs)
    curve = info["deletion"]
    print(
        f"\ndigits_cnn (test acc {digits['test/acc']:.3f}), {digits['explain/samples']} test images"
    )
    print("| pixels deleted | " + " | ".join(f"{f:.0%}" for f in curve["fractions"]) + " |")
    print("|---" * (len(curve["fractions"]) + 1) + "|")
    for name in ("top", "random"):
        print(f"| p(pred), {name} first | " + " | ".join(f"{v:.3f}" for v in curve[name]) + " |")
    print(
        f"\nbreast_cancer_mlp (test acc {cancer['test/acc']:.3f}), {cancer['explain/samples']} rows"
    )
    for key in ("acc", "acc_without_top10", "acc_without_bottom10"):
        print(f"| {key} | {cancer[f'explain/{key}']:.3f} |")


if __name__ == "__main__":
    main()
