"""The search-space syntax becomes the Optuna distributions a user expects; repeats and seeds."""

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, create_trial

from hydra_plugins.hydralit_optuna_sweeper._samplers import trial_seed
from hydra_plugins.hydralit_optuna_sweeper._space import SearchSpace, parse
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


def test_size_counts_points_of_finite_spaces_only() -> None:
    assert parse({"a": "choice(1, 2, 3)", "b": "range(0, 10, 5)"}, []).size() == 6
    assert parse({"a": "choice(1, 2)", "c": "range(0.1, 0.5, 0.1)"}, []).size() == 8
    assert parse({"a": "choice(1, 2)", "b": "interval(0, 1)"}, []).size() is None


def finished(space: SearchSpace, *points: dict) -> list[FrozenTrial]:
    """Trials 0, 1, ... of ``space`` that completed at ``points``."""
    trials = [create_trial(value=0.0, params=p, distributions=space.distributions) for p in points]
    for number, t in enumerate(trials):
        t.number = number
    return trials


def test_repeat_of_finds_the_first_earlier_trial_with_the_same_point() -> None:
    space = parse({"a": "choice(1, 2, 3)", "b": "interval(0, 1)"}, [])
    earlier = finished(space, {"a": 1, "b": 0.5}, {"a": 2, "b": 0.5}, {"a": 2, "b": 0.5})
    assert space.repeat_of({"a": 2, "b": 0.5, "extra": 1}, earlier) == 1
    assert space.repeat_of({"a": 3, "b": 0.5}, earlier) is None
    assert space.repeat_of({"a": 2, "b": 0.25}, earlier) is None


def test_a_used_up_finite_space_allows_repeats() -> None:
    space = parse({"a": "choice(1, 2)"}, [])
    assert space.repeat_of({"a": 1}, finished(space, {"a": 1})) == 0
    assert space.repeat_of({"a": 1}, finished(space, {"a": 1}, {"a": 2})) is None


@pytest.mark.parametrize(
    ("target", "seed", "n_in_study", "expected"),
    [
        ("optuna.samplers.TPESampler", 42, 0, 42),  # trial 0 of a fresh study
        ("optuna.samplers.TPESampler", 42, 5, 47),  # trial 5, in this process or a rerun
        ("optuna.samplers.RandomSampler", 0, 3, 3),
        ("optuna.samplers.TPESampler", None, 5, None),
        ("optuna.samplers.QMCSampler", 42, 5, 42),  # continues its sequence from the study
        ("hydra_plugins.hydralit_optuna_sweeper._samplers.GridSampler", 1, 5, 1),
    ],
)
def test_trial_seed(target: str, seed: int | None, n_in_study: int, expected: int | None) -> None:
    assert trial_seed(target, seed, n_in_study) == expected
