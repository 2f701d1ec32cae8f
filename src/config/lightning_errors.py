"""Lightning's own configuration errors as one line naming the ``trainer.*`` key and the fix.

Lightning checks some Trainer arguments only against the data, once it sees the loaders (e.g.
``trainer.limit_val_batches=0.1`` of a 4-batch validation split: "0.1 * 4 < 1") and raises a
``MisconfigurationException`` from deep inside ``fit``. Matched by class name, so that this
module, imported before torch, never imports Lightning.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf import DictConfig, OmegaConf

from src.errors import ConfigError, UserError

_NAME = "MisconfigurationException"


@contextmanager
def as_user_errors(cfg: DictConfig) -> Iterator[None]:
    """Re-raise a Lightning ``MisconfigurationException`` raised inside as a :class:`UserError`."""
    try:
        yield
    except Exception as e:
        if not any(c.__name__ == _NAME for c in type(e).__mro__):
            raise
        raise translate(e, cfg) from e


def translate(error: Exception, cfg: DictConfig) -> UserError:
    """A :class:`ConfigError` naming the first Trainer argument the message names in backticks
    (Lightning's habit); a :class:`UserError` quoting the message when it names none."""
    text = " ".join(str(error).split())
    trainer = cfg.get("trainer") or {}
    names = [n for n in re.findall(r"`(\w+)[^`]*`", text) if n in trainer]
    if not names:
        return UserError(
            f"Lightning refused the configuration: {text} Fix: check the trainer.* keys "
            "(print them with `python run.py --cfg job -p trainer`)."
        )
    key = f"trainer.{names[0]}"
    # "Try at least `limit_val_batches=0.25`" -> the override that does it
    suggestion = re.search(rf"`({names[0]}=[^`]+)`", text)
    fix = f"set trainer.{suggestion.group(1)}" if suggestion else f"change {key}"
    return ConfigError(
        key, OmegaConf.select(cfg, key), f"a value Lightning accepts (Lightning: {text})", fix
    )
