"""When per-step values are written: Lightning's cadence, shared by the module and callbacks."""

import lightning.pytorch as pl


def is_logging_step(trainer: pl.Trainer) -> bool:
    """True in any hook of a training batch whose per-step values Lightning writes to the
    loggers (every ``trainer.log_every_n_steps`` batches; never when that is 0).

    Asks Lightning's own logger connector (lightning is pinned in pyproject.toml), so a value
    logged from ``training_step``, before or after the optimizer step, reaches the loggers on
    exactly the batches Lightning writes: global-step arithmetic is off by one in some hooks.
    """
    return bool(trainer._logger_connector.should_update_logs)
