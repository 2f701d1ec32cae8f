"""Recommendation on the built-in generated interactions: NeuMF and GMF (MF) against the
popularity baseline, NCF protocol (leave-last-out, the test item among 99 sampled negatives).

    python bench/recsys.py [--epochs 20]

Trains each model with ``experiment=recsys_neumf model=<m>`` in this process and prints the
test HR@10 and NDCG@10 of each best checkpoint (by val/ndcg@10), side by side, plus the
exact count-based popularity ranking scored by the same metrics (a check on the learned one).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import src.config.schema  # noqa: E402, F401  registers the structured config
from src.config.compose import compose_config  # noqa: E402
from src.experiments import build  # noqa: E402
from src.experiments.train import train  # noqa: E402
from src.modules.ranking import NDCG, HitRate  # noqa: E402

MODELS = ("popularity", "gmf", "neumf")


def run(model: str, epochs: int, out: Path) -> dict[str, float]:
    overrides = [
        "experiment=recsys_neumf", f"model={model}", f"trainer.max_epochs={epochs}",
        "hardware=cpu", "logger=none", "++callbacks.progress_bar=null", "print_config=false",
        f"paths.log_dir={out}",
    ]  # fmt: skip
    start = time.perf_counter()
    metrics = train(compose_config(overrides, out / model))
    return {k: metrics[k] for k in ("test/hr@10", "test/ndcg@10")} | {
        "seconds": time.perf_counter() - start
    }


def count_popularity(out: Path) -> dict[str, float]:
    """The test candidates ranked by training counts (ties broken by the item index)."""
    cfg = compose_config(["experiment=recsys_neumf", "hardware=cpu"], out / "counts")
    data = build.datamodule(cfg)
    data.setup("test")
    counts = torch.from_numpy(data.item_counts.astype(np.float64))
    scores = counts + 1e-6 * torch.arange(len(counts)) / len(counts)
    hr, ndcg = HitRate(10), NDCG(10)
    for batch in data.test_dataloader():
        ranked = scores[batch["item"]].masked_fill(batch["exclude"], float("-inf"))
        hr.update(ranked, batch["target"])
        ndcg.update(ranked, batch["target"])
    return {"test/hr@10": float(hr.compute()), "test/ndcg@10": float(ndcg.compute())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows = {m: run(m, args.epochs, out) for m in MODELS}
        rows["popularity (training counts, not trained)"] = count_popularity(out)
    print(f"\n{'model':44s} {'HR@10':>7s} {'NDCG@10':>8s} {'seconds':>8s}")
    for name, r in rows.items():
        secs = f"{r['seconds']:8.0f}" if "seconds" in r else " " * 8
        print(f"{name:44s} {r['test/hr@10']:7.3f} {r['test/ndcg@10']:8.3f} {secs}")
    pop = rows["popularity"]
    for m in ("gmf", "neumf"):
        ratio_hr = rows[m]["test/hr@10"] / max(pop["test/hr@10"], 1e-9)
        ratio_ndcg = rows[m]["test/ndcg@10"] / max(pop["test/ndcg@10"], 1e-9)
        print(f"{m} / popularity: HR@10 x{ratio_hr:.2f}, NDCG@10 x{ratio_ndcg:.2f}")


if __name__ == "__main__":
    main()
