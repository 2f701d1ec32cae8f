"""Search-space syntax of hydra-optuna-sweeper, parsed with Hydra's override grammar.

``interval(a, b)`` -> float (int when both ends are ints, e.g. ``int(interval(1, 8))``),
``tag(log, interval(a, b))`` -> log scale, ``range(a, b, step)`` -> stepped values with ``b``
excluded as in Hydra, ``choice(...)`` -> categorical; anything else is a fixed override.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import OverrideParseException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial

from hydra_plugins.hydralit_optuna_sweeper.errors import SweepConfigError


@dataclass
class SearchSpace:
    """Optuna distributions by config key, and the overrides every trial gets unchanged."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)
    # categorical value -> its override text (``choice('a b', c)`` must keep its quotes)
    encoded: dict[str, dict[Any, str]] = field(default_factory=dict)

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """``key=value`` overrides of a trial's sampled ``params`` (search-space keys only)."""
        out = []
        for key, value in params.items():
            text = self.encoded.get(key, {}).get(value)
            out.append(f"{key}={text if text is not None else _format(value)}")
        return out

    def size(self) -> int | None:
        """How many distinct points the space has; None when a parameter is continuous."""
        n = 1
        for dist in self.distributions.values():
            if isinstance(dist, CategoricalDistribution):
                n *= len(dist.choices)
            elif isinstance(dist, IntDistribution | FloatDistribution) and dist.step:
                n *= round((dist.high - dist.low) / dist.step) + 1
            else:
                return None
        return n

    def first_point(self) -> dict[str, Any]:
        """One value per parameter (its lowest), to check that every key exists in a config."""
        return {
            key: dist.choices[0] if isinstance(dist, CategoricalDistribution) else dist.low  # type: ignore[attr-defined]
            for key, dist in self.distributions.items()
        }

    def repeat_of(self, params: dict[str, Any], earlier: list[FrozenTrial]) -> int | None:
        """The number of the first ``earlier`` trial with the same values of this space's
        parameters as ``params``; None if none, or if ``earlier`` used every point."""
        keys = sorted(self.distributions)
        seen: dict[tuple, int] = {}
        for t in earlier:
            seen.setdefault(tuple(t.params.get(k) for k in keys), t.number)
        size = self.size()
        if not keys or (size is not None and len(seen) >= size):
            return None
        return seen.get(tuple(params.get(k) for k in keys))

    def grid(self) -> dict[str, list[Any]]:
        """Every value of each parameter, for GridSampler; intervals without a step are refused."""
        grid: dict[str, list[Any]] = {}
        for key, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                grid[key] = list(dist.choices)
            elif isinstance(dist, IntDistribution) and not dist.log:
                grid[key] = list(range(dist.low, dist.high + 1, dist.step))
            else:
                raise SweepConfigError(
                    f"params.{key}",
                    str(dist),
                    "the grid sampler needs a finite set of values",
                    f"use choice(...) or range(...) for {key}, or another sampler",
                )
        return grid


def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def parse(params: dict[str, str], arguments: list[str]) -> SearchSpace:
    """Search space from ``hydra.sweeper.params`` plus command-line ``arguments``.

    Command-line overrides win over ``params`` entries for the same key.
    """
    lines = [f"{k}={v}" for k, v in params.items()] + list(arguments)
    space = SearchSpace()
    parser = OverridesParser.create()
    for line in lines:
        try:
            override = parser.parse_overrides([line])[0]
        except OverrideParseException as e:
            key = line.split("=", 1)[0]
            raise SweepConfigError(
                f"params.{key}",
                line.split("=", 1)[-1],
                f"cannot be parsed ({e.args[0]})",
                "write interval(low, high), int(interval(low, high)), tag(log, interval(low, "
                "high)), range(start, stop, step) or choice(a, b, ...)",
            ) from None
        _add(space, override)
    return space


def _add(space: SearchSpace, override: Override) -> None:
    key = override.get_key_element()
    space.distributions.pop(key, None)
    space.fixed = [f for f in space.fixed if not f.startswith(f"{key}=")]
    if not override.is_sweep_override():
        space.fixed.append(override.input_line or f"{key}={override.get_value_element_as_str()}")
        return
    value = override.value()
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        raw = list(override.sweep_iterator(transformer=Transformer.identity))
        text = [str(t) for t in override.sweep_iterator(transformer=Transformer.encode)]
        # Optuna stores primitives; a list/dict choice is kept as its override text
        choices: list[Any] = [
            v if isinstance(v, str | int | float | bool) or v is None else t
            for v, t in zip(raw, text, strict=True)
        ]
        space.encoded[key] = dict(zip(choices, text, strict=True))
        space.distributions[key] = CategoricalDistribution(choices)
    elif isinstance(value, RangeSweep):
        space.distributions[key] = _range(key, value)
    elif isinstance(value, IntervalSweep):
        space.distributions[key] = _interval(key, value)
    else:
        raise SweepConfigError(
            f"params.{key}",
            override.input_line,
            "is not a search space",
            "use interval, range or choice",
        )


def _range(key: str, value: RangeSweep) -> BaseDistribution:
    start, stop, step = value.start, value.stop, value.step
    assert start is not None and stop is not None
    if all(isinstance(v, int) for v in (start, stop, step)):
        high = start + (len(range(int(start), int(stop), int(step))) - 1) * int(step)
        if high < start:
            raise SweepConfigError(
                f"params.{key}",
                f"range({start}, {stop}, {step})",
                "is empty",
                "make stop larger than start",
            )
        return IntDistribution(int(start), int(high), step=int(step))
    n = int((stop - start) / step - 1e-9)  # stop excluded, as in Hydra's range
    return FloatDistribution(float(start), float(start + n * step), step=float(step))


def _interval(key: str, value: IntervalSweep) -> BaseDistribution:
    low, high, log = value.start, value.end, "log" in value.tags
    assert low is not None and high is not None
    if low >= high or (log and low <= 0):
        raise SweepConfigError(
            f"params.{key}",
            f"interval({low}, {high})",
            "needs low < high (and low > 0 on a log scale)",
            "swap or fix the bounds",
        )
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar: ``{a:1,b:'text',c:[1,2],d:null}``."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "\\'") + "'"
