"""When per-step values are written: Lightning's cadence, shared by the module and callbacks."""

import lightning.pytorch as pl


def is_logging_step(trainer: pl.Trainer) -> bool:
    """True every ``trainer.log_every_n_steps`` optimizer steps (never when that is 0)."""
    every = getattr(trainer, "log_every_n_steps", 1)  # set at run time by Lightning's connector
    return bool(every) and trainer.global_step % every == 0
