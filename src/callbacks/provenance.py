"""Records the digests of the data a run loaded in its ``provenance.json``."""

from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from src.data import fingerprint
from src.utils import provenance


class DataFingerprint(Callback):
    """When the datamodule is set up for a stage (before the first batch), adds a digest of each
    split it serves to ``<out>/provenance.json``; a split already recorded is not hashed again.

    Args:
        out: the run directory.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.digests: dict[str, str] = {}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None or not trainer.is_global_zero:
            return
        if all(k in self.digests for k in fingerprint.STAGE_SPLITS.get(stage, ())):
            return  # e.g. validate and test after fit: a fingerprint() gave every split at once
        found = fingerprint.of_datamodule(datamodule, stage)
        if any(self.digests.get(k) != v for k, v in found.items()):
            self.digests |= found
            provenance.add_data(self.out, self.digests)
