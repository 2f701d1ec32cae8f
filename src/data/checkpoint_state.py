"""The preprocessing state a checkpoint holds for a DataModule, read without building one.

Resolvers read it while the config is resolved (``${csv.input_shape:${ckpt_path}}``), and a
fine-tuning run reads its pretrained model's tokenizer from it.
"""

from functools import lru_cache
from pathlib import Path
from typing import Any

from src.errors import ConfigError, DataError


def checkpoint_data_state(ckpt_path: str, datamodule: str) -> dict[str, Any]:
    """The preprocessing state a checkpoint holds for the DataModule class ``datamodule``."""
    file = Path(ckpt_path)
    if not file.is_file():
        raise ConfigError("ckpt_path", ckpt_path, "an existing checkpoint file")
    state = _load_state(str(file.resolve()), file.stat().st_mtime_ns, datamodule)
    if state is None:
        raise DataError(
            f"{ckpt_path} holds no {datamodule} state: it was trained on another kind of "
            "dataset. Fix: pass the dataset= it was trained with"
        )
    return state


@lru_cache(maxsize=4)
def _load_state(path: str, mtime_ns: int, datamodule: str) -> dict[str, Any] | None:
    # only with a checkpoint, after the config is validated up to here: loaded as every entry
    # loads one (weights_only; a damaged or foreign file is one error naming it)
    from src.utils.checkpoints import verify_checkpoint

    state = verify_checkpoint(path).get(datamodule)
    return dict(state) if state else None
