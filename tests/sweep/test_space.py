"""The search-space syntax becomes the Optuna distributions a user expects."""

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.hydralit_optuna_sweeper._space import parse
from hydra_plugins.hydralit_optuna_sweeper.errors import SweepConfigError


def test_each_form_maps_to_its_distribution() -> None:
    space = parse(
        {
            "a": "interval(0, 1)",
            "b": "int(interval(1, 8))",
            "c": "tag(log, interval(1e-5, 1e-1))",
            "d": "range(8, 64, 8)",
            "e": "choice(adam, 'two words', 3)",
            "f": "range(0.1, 0.5, 0.1)",
        },
        ["g=7", "a=interval(0, 2)"],
    )
    d = space.distributions
    assert d["a"] == FloatDistribution(0.0, 2.0)  # the command line wins over params
    assert d["b"] == IntDistribution(1, 8)
    assert d["c"] == FloatDistribution(1e-5, 1e-1, log=True)
    assert d["d"] == IntDistribution(8, 56, step=8)  # stop excluded, as in Hydra
    assert d["e"] == CategoricalDistribution(["adam", "two words", 3])
    assert d["f"].high == pytest.approx(0.4) and d["f"].step == pytest.approx(0.1)
    assert space.fixed == ["g=7"]
    lines = space.overrides({"e": "two words", "a": 0.5})
    parsed = OverridesParser.create().parse_overrides(lines)
    assert [(o.key_or_group, o.value()) for o in parsed] == [("e", "two words"), ("a", 0.5)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("interval(1,)", "cannot be parsed"),
        ("interval(3, 1)", "needs low < high"),
        ("tag(log, interval(0, 1))", "low > 0 on a log scale"),
        ("range(5, 1)", "is empty"),
    ],
)
def test_bad_space_names_the_param(value: str, message: str) -> None:
    with pytest.raises(SweepConfigError, match=message) as e:
        parse({"optimizer.lr": value}, [])
    assert str(e.value).startswith("hydra.sweeper.params.optimizer.lr=")
