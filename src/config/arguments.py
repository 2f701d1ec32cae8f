"""The arguments of ``_target_`` nodes, checked against the target's signature before it is built.

``model.net.channels=[32,abc]`` composes fine (the node is untyped) and only fails inside the
network's constructor, with an error that names no key. :func:`check_arguments` imports each
target, reads its type hints and names the exact key whose value has the wrong type
(``model.net.channels[1]``) or which the target does not take (with a close match). It knows
the common hints (int, float, bool, str, None, Literal, unions, sequences and mappings of
them); anything else is left to the target, so a value it cannot judge is never rejected.
"""

import difflib
import inspect
import types
import typing
from collections.abc import Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any, Literal, Union

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from src.errors import ConfigError

# keys that Hydra's instantiate reads itself rather than passing them to the target
HYDRA_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})
SEQUENCES = (list, tuple, Sequence, MutableSequence)
MAPPINGS = (dict, Mapping, MutableMapping)
SCALARS: dict[Any, tuple[str, Any]] = {  # hint -> (what it is called, test of a value)
    int: ("an int", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a float", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    bool: ("a bool (true or false)", lambda v: isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
    type(None): ("null", lambda v: v is None),
}
_UNRESOLVED = object()  # an interpolation that does not resolve (yet), or a ??? value


def check_arguments(node: Any, key: str) -> None:
    """Check every ``_target_`` node in ``node`` (the config at ``key``) against its target.

    Raises:
        ConfigError: naming the first key whose value the target's type hints rule out, or
            that the target does not accept (it takes no ``**kwargs``).
    """
    if isinstance(node, DictConfig):
        if "_target_" in node:
            _check_call(node, key)
            return
        for name in node:
            check_arguments(_get(node, name), f"{key}.{name!s}")
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            check_arguments(_get(node, i), f"{key}[{i}]")


def _check_call(node: DictConfig, key: str) -> None:
    path = _get(node, "_target_")
    function = _declaration(path) if isinstance(path, str) else None
    if function is None:
        return  # instantiate reports a target it cannot locate, naming the key
    defaults, takes_any = _parameters(function)
    hints = _hints(function)
    for name in map(str, node):
        if name in HYDRA_KEYS:
            continue
        sub, value = f"{key}.{name}", _get(node, name)
        if name not in defaults and not takes_any:
            raise _unknown(sub, node, name, path, defaults)
        # `x: int = None` is common: None is what the default means
        if name in hints and not (value is None and defaults.get(name, 0) is None):
            try:
                _check(hints[name], value, sub)
            except ConfigError as e:
                takes = f"{path} takes {name}: {_name(hints[name])}"
                raise ConfigError(e.key, e.value, f"{e.expected} ({takes})") from None
        check_arguments(value, sub)  # the targets nested in it


def _check(hint: Any, value: Any, key: str) -> None:
    """Raise ConfigError if ``value`` cannot be ``hint``; return if it can or if unsure."""
    if _is_target(value) or value is _UNRESOLVED:
        return  # built into an object, or not resolvable here: the target judges it
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        _check_union(args, value, key)
    elif origin is Literal:
        if all(isinstance(a, str | int | bool | None) for a in args) and not any(
            value == a and type(value) is type(a) for a in args
        ):
            raise ConfigError(key, value, _describe(hint))
    elif (scalar := _scalar(hint)) is not None:
        if not scalar[1](value):
            raise ConfigError(key, value, scalar[0])
    elif hint in SEQUENCES or origin in SEQUENCES:
        _check_sequence(hint, args, value, key)
    elif hint in MAPPINGS or origin in MAPPINGS:
        _check_mapping(args, value, key)


def _check_union(members: tuple[Any, ...], value: Any, key: str) -> None:
    errors = []
    for member in members:
        try:
            _check(member, value, key)
            return
        except ConfigError as e:
            errors.append(e)
    deepest = max(errors, key=lambda e: len(e.key))
    if deepest.key != key:  # the value has the member's shape, one element is wrong: name it
        raise deepest
    raise ConfigError(key, value, " or ".join(_describe(m) for m in members))


def _check_sequence(hint: Any, args: tuple[Any, ...], value: Any, key: str) -> None:
    if not isinstance(value, ListConfig | list | tuple):  # a string is no list of anything
        raise ConfigError(key, value, _describe(hint))
    fixed = typing.get_origin(hint) is tuple and args and args[-1] is not Ellipsis
    if fixed and len(value) != len(args):
        raise ConfigError(key, value, _describe(hint))
    if not args:
        return
    for i in range(len(value)):
        _check(args[i] if fixed else args[0], _get(value, i), f"{key}[{i}]")


def _check_mapping(args: tuple[Any, ...], value: Any, key: str) -> None:
    if not isinstance(value, DictConfig | dict):
        raise ConfigError(key, value, "a mapping (key: value, ...)")
    if len(args) == 2:
        for name in value:
            _check(args[1], _get(value, name), f"{key}.{name!s}")


def _scalar(hint: Any) -> tuple[str, Any] | None:
    try:
        return SCALARS.get(hint)
    except TypeError:  # an unhashable hint (an instance used as one): not a scalar type
        return None


def _describe(hint: Any) -> str:
    """What a value of ``hint`` is, in words: ``an int``, ``a list of int``, ``one of 'a', 'b'``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if (scalar := _scalar(hint)) is not None:
        return str(scalar[0])
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)} items"
    if hint in SEQUENCES or origin in SEQUENCES:
        return f"a list of {_name(args[0])}" if args else "a list"
    return _name(hint)


def _name(hint: Any) -> str:
    """``hint`` as it is written in code: ``int``, ``list[int]``, ``int | None``."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return "None" if hint is type(None) else hint.__name__
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " | ".join(_name(a) for a in typing.get_args(hint))
    return str(hint).replace("typing.", "").replace("collections.abc.", "")


def _unknown(
    key: str, node: DictConfig, name: str, target: str, params: dict[str, Any]
) -> ConfigError:
    raw = OmegaConf.to_container(node, resolve=False)
    close = difflib.get_close_matches(name, list(params), n=1)
    parent = key.rsplit(".", 1)[0]
    return ConfigError(
        key,
        raw.get(name) if isinstance(raw, dict) else None,
        f"an argument of {target}: one of {', '.join(params) or 'none (it takes no arguments)'}",
        f"did you mean {parent}.{close[0]}?" if close else "remove it",
    )


def _declaration(path: str) -> Any:
    """The function whose signature says what the target ``path`` takes: a function itself,
    a class's ``__init__``, or the nearest base's when the class only forwards
    ``*args, **kwargs`` (as a subclass of a Lightning callback may). None if there is none."""
    try:
        target = get_object(path)
    except Exception:  # instantiate raises it again, with the key
        return None
    if not inspect.isclass(target):
        return target if callable(target) else None
    for cls in inspect.getmro(target):
        init = vars(cls).get("__init__")
        if init is not None and not _forwards_only(init):
            return init
    return None


def _forwards_only(init: Any) -> bool:
    try:
        params = list(inspect.signature(init).parameters.values())[1:]  # after self
    except (TypeError, ValueError):
        return False
    return bool(params) and all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def _parameters(function: Any) -> tuple[dict[str, Any], bool]:
    """The default of each argument that can be given by name, and whether ``function`` takes
    any name (``**kwargs``, or a signature that cannot be read)."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return {}, True
    if getattr(function, "__name__", "") == "__init__":
        params = params[1:]  # self
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    defaults = {p.name: p.default for p in params if p.kind in kinds}
    return defaults, any(p.kind is p.VAR_KEYWORD for p in params)


def _hints(function: Any) -> dict[str, Any]:
    """Type hints of ``function``'s arguments; {} if they cannot be evaluated."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # a hint naming what only exists under TYPE_CHECKING, say
        return {}
    hints.pop("return", None)
    return hints


def _get(container: Any, key: Any) -> Any:
    """The resolved value at ``key``, or _UNRESOLVED if it does not resolve (yet)."""
    try:
        return container[key]
    except Exception:  # an interpolation or resolver failure: whoever uses it reports it
        return _UNRESOLVED


def _is_target(value: Any) -> bool:
    return isinstance(value, DictConfig) and "_target_" in value
