"""Input checks shared by the networks, so a model/dataset mismatch names the key to change."""

from collections.abc import Sequence

from src.errors import ConfigError

_KINDS = {1: "(F) rows of features", 2: "(C, T) signals", 3: "(C, H, W) images"}


def require_dims(input_shape: Sequence[int], dims: int, network: str, instead: str) -> None:
    """Raise a ConfigError unless one sample has ``dims`` axes.

    Args:
        input_shape: the dataset's sample shape (``dataset.input_shape``).
        dims: the number of axes the network reads.
        network: the network's name, for the message.
        instead: the models that do fit such data, for the fix.
    """
    if len(input_shape) != dims:
        raise ConfigError(
            "model.net.input_shape",
            list(input_shape),
            f"{_KINDS[dims]}: {network} reads {dims}-D samples",
            f"pick a model for {len(input_shape)}-D samples ({instead})",
        )
