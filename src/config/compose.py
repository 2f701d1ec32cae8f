"""The composed config of a run, built in-process as ``run.py`` builds it (for tests, benchmarks
and notebooks): ``compose_config(["model=mlp", "trainer.max_epochs=2"], Path("out"))``."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONF = Path(__file__).resolve().parents[2] / "conf"


def compose_config(overrides: list[str], run_dir: Path) -> DictConfig:
    """conf/config.yaml with ``overrides``, writing into ``run_dir`` (its output directory)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # ${hydra:...} interpolations resolve against it
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        del cfg.hydra
    return cfg
