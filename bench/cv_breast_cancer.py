"""5-fold cross-validation of the breast-cancer MLP: each fold's metrics and mean ± std.

    python bench/cv_breast_cancer.py [overrides ...]

Runs ``python run.py experiment=breast_cancer_mlp cv.folds=5`` in-process (the experiment's
own 40 epochs per fold) and prints the per-fold table (cv_folds.csv) and the summary.
"""

import csv
import json
import sys
import tempfile
from pathlib import Path

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.experiments import run

METRICS = ("val/acc", "val/auroc", "test/acc", "test/auroc")


def main(overrides: list[str]) -> None:
    out = Path(tempfile.mkdtemp(prefix="cv_bench_")) / "run"
    args = ["experiment=breast_cancer_mlp", "cv.folds=5", "hardware=cpu", "print_config=false"]
    cfg = compose_config([*args, "++callbacks.progress_bar=null", *overrides], out)
    run(cfg)
    with (out / "cv_folds.csv").open() as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((out / "metrics.json").read_text())
    print("| fold | " + " | ".join(METRICS) + " |\n|---|" + "---|" * len(METRICS))
    for row in rows:
        print(f"| {row['fold']} | " + " | ".join(f"{float(row[m]):.4f}" for m in METRICS) + " |")
    cells = [f"{summary[m]:.4f} ± {summary[m + '_std']:.4f}" for m in METRICS]
    print("| mean ± std | " + " | ".join(cells) + " |")
    print(f"run directory: {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
