"""FedAvg on Flower's simulation engine: ``python run.py mode=federated federated.engine=flower``.

Flower's ``run_simulation`` runs a ``ServerApp`` (Flower's ``FedAvg`` strategy, the global
model validated after every round by ``evaluate_fn``, in this process) and a ``ClientApp`` on
``federated.partition.clients`` virtual nodes, in Ray actors. Node ``partition-id`` i trains
exactly what client i trains in the own loop (:mod:`src.experiments.federated_client`: the
module built from the config, the datamodule of its share of the rows, ``local_fit``). Under
``privacy=dp`` each client's accountant history travels in the node's ``context.state``
between rounds (a Ray actor keeps nothing), so ε accumulates as in the own loop.

Needs the ``federated`` extra: ``pip install -e '.[federated]'`` (flwr[simulation], Ray).
"""

import json
import logging
from typing import Any

import lightning.pytorch as pl
from omegaconf import DictConfig

from src.errors import UserError
from src.experiments import build
from src.experiments.federated_client import client_config, epsilon, evaluate, local_fit, private

log = logging.getLogger(__name__)
INSTALL = "pip install -e '.[federated]'"


def flwr_apps() -> Any:
    """Flower's app classes and simulation entry, or one error naming the extra."""
    try:
        from flwr import app, clientapp, serverapp, simulation
    except ImportError as e:
        raise UserError(
            f"federated.engine=flower: needs Flower's simulation (flwr, Ray); install it "
            f"with {INSTALL}, or use federated.engine=own"
        ) from e
    return app, clientapp, serverapp, simulation


def rounds(
    cfg: DictConfig, module: pl.LightningModule, server: Any
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """FedAvg on Flower; ``module`` ends with the final global weights. Returns the validation
    row of every round and the largest ε a client spent (under ``privacy``)."""
    app, clientapp, serverapp, simulation = flwr_apps()
    fed, rows, spent = cfg.federated, [], {}
    private(cfg)  # a privacy setting the federated loop refuses fails here, before Ray starts

    def validate(round_: int, arrays: Any) -> Any:
        if round_ == 0:  # the initial weights
            return None
        module.load_state_dict(arrays.to_torch_state_dict())
        rows.append({"round": round_} | evaluate(cfg, module, server, "val"))
        log.info("round %d: %s", round_, rows[-1])
        return app.MetricRecord({k: float(v) for k, v in rows[-1].items()})

    def aggregate(replies: list[Any], key: str) -> Any:
        for reply in replies:  # the latest ε of each client, as its accountant reports it
            metrics = reply["metrics"]
            if "train/epsilon" in metrics:
                spent[int(metrics["client"])] = float(metrics["train/epsilon"])
        return app.MetricRecord({"clients": len(replies)})

    strategy = serverapp.strategy.FedAvg(
        fraction_train=float(fed.fraction),
        fraction_evaluate=0.0,
        min_train_nodes=1,
        min_available_nodes=int(fed.partition.clients),
        train_metrics_aggr_fn=aggregate,
    )
    server_app, final = serverapp.ServerApp(), []

    @server_app.main()
    def _main(grid: Any, context: Any) -> None:
        initial = app.ArrayRecord(module.state_dict())
        result = strategy.start(grid, initial, int(fed.rounds), evaluate_fn=validate)
        final.append(result.arrays)

    client_app = clientapp.ClientApp()

    @client_app.train()
    def _train(msg: Any, context: Any) -> Any:
        return client_train(cfg, msg, context)

    simulation.run_simulation(
        server_app, client_app, int(fed.partition.clients), backend_config=_backend(cfg)
    )
    if len(rows) != int(fed.rounds) or not final:
        raise RuntimeError(f"Flower finished {len(rows)} of {fed.rounds} rounds (see its log)")
    module.load_state_dict(final[0].to_torch_state_dict())
    return rows, {"train/epsilon": max(spent.values())} if spent else {}


def _backend(cfg: DictConfig) -> dict[str, Any]:
    """``federated.cpus_per_client`` CPUs per client actor (Flower hands this process'
    ``sys.path`` to Ray's workers), on a Ray instance of this run's own: never one that another
    run on the machine started."""
    cpus = int(cfg.federated.get("cpus_per_client", 1))
    return {
        "client_resources": {"num_cpus": cpus, "num_gpus": 0.0},
        "init_args": {"address": "local"},
    }


def client_train(cfg: DictConfig, msg: Any, context: Any) -> Any:
    """One node's round: the global weights trained on its rows (``local_fit``), sent back
    with its row count (FedAvg's weight) and, under ``privacy``, its ε so far."""
    app = flwr_apps()[0]
    client = int(context.node_config["partition-id"])
    round_ = int(msg.content["config"]["server-round"])
    pl.seed_everything(cfg.seed + 1000 * round_ + client, workers=True, verbose=False)
    module = build.module(cfg)
    module.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    privacy = private(cfg)
    if privacy is not None and "dp" in context.state:
        privacy.load_state_dict({"history": json.loads(context.state["dp"]["history"])})
    size = local_fit(cfg, module, build.datamodule(client_config(cfg, client)), privacy)
    metrics: dict[str, float | int] = {"num-examples": size, "client": client}
    if privacy is not None:
        context.state["dp"] = app.ConfigRecord(
            {"history": json.dumps(privacy.state_dict()["history"])}
        )
        metrics["train/epsilon"] = epsilon(privacy)
    content = app.RecordDict(
        {"arrays": app.ArrayRecord(module.state_dict()), "metrics": app.MetricRecord(metrics)}
    )
    return app.Message(content=content, reply_to=msg)
