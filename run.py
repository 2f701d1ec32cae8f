"""Command-line entry point: ``python run.py [group=member ...] [key=value ...]``.

Composes ``conf/config.yaml`` with the overrides and hands it to ``src.experiments.run``.
Torch is imported only after the config is composed and validated, so ``--help`` and
``--cfg job`` stay fast.
"""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import src.config.schema  # noqa: F401  registers the `schema` structured config
from src.errors import UserError

log = logging.getLogger("run")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from src.experiments import run

    try:
        return run(cfg)
    except UserError as e:
        log.error("%s", e)
        if HydraConfig.get().mode == RunMode.RUN:
            sys.exit(2)  # one readable line, no traceback
        raise  # in a multirun the launcher/sweeper records the failed job


if __name__ == "__main__":
    main()
