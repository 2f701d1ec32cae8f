"""The study's direction comes from optimized_mode unless hydra.sweeper.direction says it."""

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.hydralit_optuna_sweeper._objective import directions, objectives
from hydra_plugins.hydralit_optuna_sweeper.errors import SweepConfigError
from tests.conftest import CONF


def job(mode: str | None = "max", metric: str = "val/acc") -> DictConfig:
    node = {"optimized_metric": metric} | ({"optimized_mode": mode} if mode else {})
    return OmegaConf.create(node)


@pytest.mark.parametrize(("mode", "expected"), [("max", "maximize"), ("min", "minimize")])
def test_null_direction_follows_optimized_mode(mode: str, expected: str) -> None:
    assert directions(None, ["val/acc"], job(mode)) == [expected]
    assert directions(None, objectives(["val/acc"], job(mode)), job(mode)) == [expected]


def test_explicit_direction_wins_where_it_does_not_contradict() -> None:
    assert directions("maximize", ["val/acc"], job("max")) == ["maximize"]
    # another objective than optimized_metric: optimized_mode says nothing about it
    assert directions("minimize", ["val/loss"], job("max")) == ["minimize"]
    assert directions(["maximize", "minimize"], ["val/acc", "model/params"], job("max")) == [
        "maximize",
        "minimize",
    ]


def test_a_config_without_optimized_mode_is_maximized() -> None:
    assert directions(None, ["objective"], job(None, metric="objective")) == ["maximize"]


def test_the_shipped_search_derives_maximize_from_the_main_config() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", ["hparams_search=digits_cnn_optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper.direction is None  # declared once, as optimized_mode
    assert directions(sweeper.direction, objectives(sweeper.objectives, cfg), cfg) == ["maximize"]


@pytest.mark.parametrize(
    ("setting", "names", "mode", "message"),
    [
        (
            "maximize",
            ["val/acc"],
            "min",
            "hydra.sweeper.direction='maximize': contradicts optimized_mode='min' for "
            "optimized_metric='val/acc'. Fix: drop hydra.sweeper.direction",
        ),
        (
            ["minimize", "minimize"],
            ["val/loss", "val/acc"],
            "max",
            "hydra.sweeper.direction='minimize': contradicts optimized_mode='max'",
        ),
        (
            None,
            ["val/acc", "model/params"],
            "max",
            "hydra.sweeper.direction=None: the 2 objectives ['val/acc', 'model/params'] need one "
            "direction each",
        ),
        (None, ["val/loss"], "max", "not the objective 'val/loss'"),
        (None, ["val/acc"], "maxi", "cannot be derived from optimized_mode='maxi'"),
        ("maximise", ["val/acc"], "max", "must be maximize or minimize"),
    ],
)
def test_bad_direction_names_the_keys_and_the_fix(
    setting: object, names: list[str], mode: str, message: str
) -> None:
    with pytest.raises(SweepConfigError, match="Fix: ") as e:
        directions(setting, names, job(mode))
    assert message in str(e.value)
