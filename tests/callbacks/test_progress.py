"""The progress bar reads the trainer's metrics at its redraw rate, not after every batch."""

from typing import Any

import pytest

from src.callbacks.progress import ProgressBar
from src.experiments import build
from tests.conftest import Compose


@pytest.mark.parametrize(("rate", "most_reads"), [(1, 1), (1000, 20)])
def test_metric_reads_follow_the_refresh_rate(
    compose_cfg: Compose, monkeypatch: pytest.MonkeyPatch, rate: int, most_reads: int
) -> None:
    cfg = compose_cfg(
        "hardware=cpu",
        "print_config=false",
        "trainer.max_epochs=1",
        "model=mlp",
        "trainer.limit_train_batches=20",
        "trainer.limit_val_batches=1",
        f"callbacks.progress_bar.refresh_rate={rate}",
        fast=False,  # the fast settings hide the bar
    )
    reads: list[int] = []
    original = ProgressBar.get_metrics

    def counted(self: ProgressBar, trainer: Any, pl_module: Any) -> dict[str, Any]:
        if trainer.training:
            reads.append(trainer.fit_loop.epoch_loop.batch_progress.current.completed)
        return original(self, trainer, pl_module)

    monkeypatch.setattr(ProgressBar, "get_metrics", counted)
    callbacks = build.callbacks(cfg)
    bar = next(cb for cb in callbacks if isinstance(cb, ProgressBar))
    trainer = build.trainer(cfg, callbacks, build.loggers(cfg))
    trainer.fit(build.module(cfg), datamodule=build.datamodule(cfg))
    batch_reads = reads[:-1]  # the last read is the epoch end's, always made
    assert bar.train_progress_bar_id is not None
    assert 1 <= len(batch_reads) <= most_reads
    if rate == 1000:  # ~20 batches in well under a second: every batch's metrics were read
        assert len(batch_reads) >= 10
