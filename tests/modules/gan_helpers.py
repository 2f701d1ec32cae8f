"""A digits classifier trained by the framework, whose features the GAN tests' FID reads."""

import functools
import tempfile
from pathlib import Path

from tests.conftest import DATA_DIR, FAST, compose_config


@functools.cache
def digits_classifier() -> str:
    """The checkpoint of a LeNet trained for a few batches on digits, once per test session
    (a few seconds); its features are poor but real, enough for FID's plumbing."""
    from src.experiments.train import train

    run = Path(tempfile.mkdtemp(prefix="fid_classifier_"))
    overrides = [f"paths.log_dir={run / 'outputs'}", f"paths.data_dir={DATA_DIR}", *FAST]
    cfg = compose_config([*overrides, "trainer.limit_train_batches=5", "test=false"], run / "run")
    best = train(cfg)["best_checkpoint"]
    assert best and Path(best).is_file()
    return str(best)
