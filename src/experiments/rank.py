"""Entry point of the extra ranks of a DDP/FSDP job: ``python -m src.experiments.rank < job``.

Started by :class:`src.hardware.distributed.JobLauncher`, which writes the job (the composed
config and Hydra's config, pickled) to stdin; ``LOCAL_RANK`` and friends come in the
environment. The rank runs the same entry as ``run.py`` on that config. It logs warnings and
errors only, to stderr: rank 0 is the one that prints and writes files.
"""

import logging
import os
import pickle
import sys

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import setup_globals
from omegaconf import OmegaConf

import src.config.schema  # noqa: F401  registers the structured config and resolvers
from src.errors import UserError


def main() -> int:
    job = pickle.load(sys.stdin.buffer)
    rank = os.environ.get("LOCAL_RANK", "?")
    logging.basicConfig(
        level=logging.WARNING, format=f"[rank {rank}][%(name)s][%(levelname)s] %(message)s"
    )
    if job["hydra"] is not None:
        setup_globals()  # the ${hydra:...} and ${now:...} resolvers
        # Hydra's config arrives as plain containers (launcher configs such as submitit's do not
        # pickle); set_config() would insist on its structured schema, which only typing needs
        hydra_cfg = OmegaConf.create(job["hydra"])
        OmegaConf.set_readonly(hydra_cfg, True)
        HydraConfig.instance().cfg = hydra_cfg
    from src.experiments import run

    try:
        run(job["cfg"])
    except UserError as e:
        logging.getLogger("run").error("%s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
