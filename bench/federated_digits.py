"""Federated averaging on digits: 10 simulated clients, non-IID (Dirichlet α = 0.5) and IID,
beside centralised training of the same model for as many passes over the data, in one run.

    python bench/federated_digits.py [--engine own|flower|own,flower] [--splits non-iid,iid]
        [overrides ...]

``--engine``: which FedAvg runs (``federated.engine``): the own in-process loop (default),
Flower's simulation (needs ``pip install -e '.[federated]'``), or both side by side.

Each round every client trains one local epoch on its rows, so R rounds see the training split
R times, like R centralised epochs.
"""

import argparse
import tempfile
import time
from pathlib import Path

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.experiments.federated import federated
from src.experiments.train import train

ROUNDS = 20
COMMON = ["hardware=cpu", "print_config=false", "++callbacks.progress_bar=null"]
SPLITS = {
    "non-iid": ("non-IID (Dirichlet 0.5)", []),
    "iid": ("IID", ["federated.partition.split=iid"]),
}


def runs(engines: list[str], splits: list[str]) -> dict[str, list[str]]:
    """Centralised training, then each engine's FedAvg on each split."""
    fed = ["mode=federated", f"federated.rounds={ROUNDS}"]
    out = {"centralised": [f"trainer.max_epochs={ROUNDS}"]}
    for engine in engines:
        for split in splits:
            name, overrides = SPLITS[split]
            out[f"federated ({engine}), {name}"] = [*fed, f"federated.engine={engine}", *overrides]
    return out


def main(engines: list[str], splits: list[str], extra: list[str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="fed_bench_"))
    print("| training | test/acc | val/acc | seconds |\n|---|---|---|---|")
    for i, (name, overrides) in enumerate(runs(engines, splits).items()):
        cfg = compose_config([*COMMON, *overrides, *extra], root / str(i))
        entry = federated if "mode=federated" in overrides else train
        start = time.perf_counter()
        m = entry(cfg)
        seconds = time.perf_counter() - start
        print(f"| {name} | {m['test/acc']:.4f} | {m['val/acc']:.4f} | {seconds:.0f} |", flush=True)
    print(f"runs under {root}; 10 clients, {ROUNDS} rounds of 1 local epoch; {' '.join(extra)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", default="own", help="own, flower or own,flower")
    parser.add_argument("--splits", default="non-iid,iid", help="non-iid, iid or both")
    args, overrides = parser.parse_known_args()
    main(args.engine.split(","), args.splits.split(","), overrides)
