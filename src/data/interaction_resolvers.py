"""``${interactions.num_users:}`` and ``${interactions.num_items:}``: the sizes a recommendation
network is built for, read from the data set of the dataset node they sit in (its ``source``),
so nobody types them. The file is read once per process and shared with the data source."""

from typing import Any

from omegaconf import DictConfig, OmegaConf

MISSING = "???"


def _count(node: DictConfig, which: str) -> int | str:
    source = node.get("source")
    if source is None or any(OmegaConf.is_missing(source, k) for k in source):
        return MISSING  # validation names the missing option
    from hydra.utils import instantiate

    return int(getattr(instantiate(source)(), which))


def num_users(*, _parent_: DictConfig) -> int | str:
    """Distinct users of the dataset node's ``source``."""
    return _count(_parent_, "num_users")


def num_items(*, _parent_: DictConfig) -> int | str:
    """Distinct items of the dataset node's ``source``."""
    return _count(_parent_, "num_items")


def register() -> None:
    """Register the ``interactions.*`` resolvers (idempotent)."""
    resolvers: dict[str, Any] = {
        "interactions.num_users": num_users,
        "interactions.num_items": num_items,
    }
    for name, fn in resolvers.items():
        OmegaConf.register_new_resolver(name, fn, replace=True)


register()
