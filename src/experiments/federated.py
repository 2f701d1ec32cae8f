"""Federated averaging (FedAvg, McMahan et al. 2017) of any single-optimizer task over simulated
clients: ``python run.py mode=federated``.

Each round, the chosen clients start from the global weights, train ``local_epochs`` on their
own rows (the dataset's ``partition``: IID or Dirichlet non-IID labels) and the server averages
their weights in proportion to their row counts. Clients run one after another in this
process, each with a plain Lightning ``Trainer``, so any module, network and datamodule that
trains with ``mode=train`` trains here. With ``privacy=dp`` every client trains with DP-SGD and
keeps its own accountant across rounds; ``train/epsilon`` is the largest ε any client spent.
"""

import csv
import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from omegaconf import DictConfig

from src.experiments import build
from src.experiments.federated_client import client_config, epsilon, evaluate, local_fit, private
from src.utils import provenance, report

log = logging.getLogger(__name__)
State = dict[str, torch.Tensor]


def federated(cfg: DictConfig) -> dict[str, Any]:
    """FedAvg rounds, the global model validated after each; then validated and tested.

    ``federated.engine``: ``own`` (this module's loop) or ``flower`` (Flower's simulation,
    :mod:`src.experiments.federated_flower`); both share the clients' data, the local training
    and the report.
    """
    out = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    module = build.module(cfg)
    server = build.datamodule(cfg)  # partition.client null: every row, for val and test
    if cfg.federated.get("engine", "own") == "flower":
        from src.experiments import federated_flower  # imports flwr (the federated extra)

        run_rounds = federated_flower.rounds
    else:
        run_rounds = own_rounds
    report.save_config(cfg, out)
    provenance.save(cfg, out)
    rows, spent = run_rounds(cfg, module, server)
    metrics = evaluate(cfg, module, server, "val") | evaluate(cfg, module, server, "test")
    metrics |= spent | {"rounds": len(rows), "run_dir": str(out)}
    write_rounds(out / "federated_rounds.csv", rows)
    report.finish(metrics, [{"epoch": r["round"] - 1} | r for r in rows], out)
    return metrics


def own_rounds(
    cfg: DictConfig, module: pl.LightningModule, server: Any
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The clients trained one after another in this process; ``module`` ends averaged.
    Returns the validation row of every round and the ε spent (under ``privacy``)."""
    fed = cfg.federated
    clients = [build.datamodule(client_config(cfg, i)) for i in range(fed.partition.clients)]
    privacy = [private(cfg) for _ in clients]
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for round_ in range(int(fed.rounds)):
        chosen = rng.choice(len(clients), max(1, round(fed.fraction * len(clients))), False)
        start = {k: v.detach().clone() for k, v in module.state_dict().items()}
        states, sizes = [], []
        for c in sorted(chosen):
            module.load_state_dict(start)
            size = local_fit(cfg, module, clients[c], privacy[c])
            if size:
                states.append({k: v.detach().clone() for k, v in module.state_dict().items()})
                sizes.append(size)
        module.load_state_dict(average(states, sizes))
        rows.append({"round": round_ + 1} | evaluate(cfg, module, server, "val"))
        log.info("round %d: %s", round_ + 1, rows[-1])
    spent = [epsilon(p) for p in privacy if p is not None]
    return rows, {"train/epsilon": max(spent)} if spent else {}


def average(states: list[State], sizes: list[int]) -> State:
    """The clients' weights averaged in proportion to their row counts (integer buffers, such
    as BatchNorm's batch counter, are taken from the largest client)."""
    weights = torch.tensor(sizes, dtype=torch.float64) / sum(sizes)
    largest = states[int(np.argmax(sizes))]
    return {
        k: (
            sum(w * s[k].double() for w, s in zip(weights, states, strict=True)).to(v.dtype)
            if v.is_floating_point()
            else largest[k]
        )
        for k, v in states[0].items()
    }


def write_rounds(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
