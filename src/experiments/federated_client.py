"""What one simulated client of ``mode=federated`` does, whichever engine runs the rounds
(:mod:`src.experiments.federated`'s own loop or :mod:`src.experiments.federated_flower`): its
config (its share of the rows), its DP-SGD callback, its local training; and the global model's
evaluation."""

from typing import Any

import lightning.pytorch as pl
from omegaconf import DictConfig, open_dict

from src.errors import ConfigError
from src.experiments import build
from src.experiments.train import scalars


def client_config(cfg: DictConfig, client: int) -> DictConfig:
    one = cfg.copy()
    with open_dict(one):
        one.federated.partition.client = client
    return one


def private(cfg: DictConfig) -> Any:
    """A client's DP-SGD callback (its own accountant), or None without ``privacy``."""
    if cfg.get("privacy") is None:
        return None
    if cfg.privacy.get("target_epsilon") is not None:
        raise ConfigError(
            "privacy.target_epsilon",
            cfg.privacy.target_epsilon,
            "null in mode=federated (each client's noise is fixed; its ε is reported)",
            "give privacy.noise_multiplier=<σ> privacy.target_epsilon=null",
        )
    return build.instantiate(cfg, "privacy")


def _trainer(cfg: DictConfig, callbacks: list[Any], **options: Any) -> pl.Trainer:
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    return build.instantiate(
        cfg, "trainer", callbacks=callbacks, enable_checkpointing=False, **quiet, **options
    )


def local_fit(cfg: DictConfig, module: pl.LightningModule, data: Any, privacy: Any) -> int:
    """Train ``module`` on one client's rows; returns how many rows it holds."""
    epochs = int(cfg.federated.local_epochs)
    trainer = _trainer(
        cfg, [privacy] if privacy else [], max_epochs=epochs, min_epochs=epochs,
        limit_val_batches=0,
    )  # fmt: skip
    data.setup("fit")
    loader = data.train_dataloader()
    size = int(getattr(loader, "n", 0) or len(getattr(loader, "dataset", ())))
    if size:
        trainer.fit(module, datamodule=data)
    return size


def evaluate(cfg: DictConfig, module: pl.LightningModule, data: Any, split: str) -> dict:
    trainer = _trainer(cfg, [])
    run = trainer.validate if split == "val" else trainer.test
    run(module, datamodule=data, verbose=False)
    return scalars(trainer, f"{split}/")


def epsilon(privacy: Any) -> float:
    """The ε a client's DP-SGD callback spent so far, at its δ."""
    return float(privacy.accountant.get_epsilon(delta=privacy.target_delta))
