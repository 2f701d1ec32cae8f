"""A ``_target_`` argument of the wrong type, or one the target does not take, is named by key
before anything is built (src/config/arguments.py); the real configs pass unchanged."""

from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from src.config.arguments import check_arguments
from src.errors import ConfigError
from tests.conftest import CONF, Compose, run_cli
from tests.data.fakes import own_data_for

# every group whose nodes build.instantiate builds, plus the experiments that set them
GROUPS = ("model", "dataset", "optimizer", "scheduler", "callbacks", "logger", "hardware")
MEMBERS = [
    f"{group}={path.stem}"
    for group in (*GROUPS, "experiment")
    for path in sorted((CONF / group).glob("*.yaml"))
    if not path.name.startswith("_")
]
BUILT = ("dataset", "model", "optimizer", "scheduler", "trainer", "callbacks", "logger")
# data sets whose named inputs only a multimodal model reads (the default model is a CNN)
PARTNER = {f"dataset={m}": ["model=multimodal"] for m in ("digit_captions", "multimodal_file")}


def check_all(cfg: DictConfig) -> None:
    for key in BUILT:
        check_arguments(OmegaConf.select(cfg, key), key)


@pytest.mark.parametrize("override", MEMBERS)
def test_every_config_passes(compose_cfg: Compose, tmp_path: Path, override: str) -> None:
    partner = PARTNER.get(override, [])
    check_all(compose_cfg(override, *partner, *own_data_for(override, tmp_path=tmp_path)))


# (overrides, the message's start, a part it must also hold)
WRONG = {
    "text in a list of ints": (
        ["model.net.channels=[32,abc]"],
        "model.net.channels[1]='abc': expected an int",
        "src.networks.cnn.LeNet takes channels: list[int]",
    ),
    "text for an int": (["model.net.hidden=abc"], "model.net.hidden='abc': expected an int", ""),
    "list for a float": (["model.net.dropout=[1]"], "model.net.dropout=[1]: expected a float", ""),
    "unknown argument": (
        ["+model.net.hiden=3"],
        "model.net.hiden=3: expected an argument of src.networks.cnn.LeNet: one of input_shape",
        "Fix: did you mean model.net.hidden?",
    ),
    "text for a bool": (
        ["model=mlp", "model.net.batchnorm=yes"],
        "model.net.batchnorm='yes': expected a bool",
        "",
    ),
    "a tuple of the wrong length": (
        ["optimizer.betas=[0.9]"],
        "model.optimizer.betas=[0.9]: expected a list of 2 items",  # the model owns its optimizer
        "torch.optim.AdamW takes betas",
    ),
    "a value outside a Literal": (
        ["scheduler=plateau", "scheduler.factory.mode=up"],
        "model.scheduler.factory.mode='up': expected one of 'min', 'max'",
        "",
    ),
    "a nested target's argument": (
        ["dataset.augment.max_translate=1.5"],
        "dataset.augment.max_translate=1.5: expected an int",
        "",
    ),
    "a callback that forwards **kwargs to Lightning's": (
        ["+callbacks.model_checkpoint.save_top=2"],
        "callbacks.model_checkpoint.save_top=2: expected an argument of",
        "did you mean callbacks.model_checkpoint.save_top_k?",
    ),
    "an element of a list of callbacks' targets": (
        [
            "trainer.plugins=[{_target_:src.utils.checkpoint_io.BackgroundCheckpointIO,chekpoint_io:1}]"
        ],
        "trainer.plugins[0].chekpoint_io=1: expected an argument of",
        "did you mean trainer.plugins[0].checkpoint_io?",
    ),
}


@pytest.mark.parametrize("case", WRONG)
def test_wrong_arguments_name_the_key(compose_cfg: Compose, case: str) -> None:
    overrides, start, part = WRONG[case]
    with pytest.raises(ConfigError) as e:
        check_all(compose_cfg(*overrides))
    message = str(e.value)
    assert message.startswith(start), message
    assert part in message and "\n" not in message


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.loss=3"],  # loss: nn.Module | None: a hint it cannot judge is never an error
        ["model=resnet18", "model.net.weights_path=null"],  # str | None
        ["trainer.devices=[0]"],  # list[int] | str | int
        ["trainer.precision=16"],  # a Literal of ints and strings
        ["++trainer.profiler=${nowhere.defined}"],  # does not resolve: left to instantiate
    ],
)
def test_values_it_cannot_rule_out_pass(compose_cfg: Compose, overrides: list[str]) -> None:
    check_all(compose_cfg(*overrides))


def test_none_where_the_default_is_none() -> None:
    # torch's `reduce: bool = None` style: None is what the default means
    node = OmegaConf.create({"_target_": "torch.nn.MSELoss", "reduce": None, "reduction": "sum"})
    check_arguments(node, "model.loss")
    with pytest.raises(ConfigError, match=r"model.loss.reduction=1: expected a string"):
        check_arguments(
            OmegaConf.create({"_target_": "torch.nn.MSELoss", "reduction": 1}), "model.loss"
        )


def test_cli_one_line_and_exit_2(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "model.net.channels=[32,abc]", "print_config=false")
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert "Traceback" not in text
    rows = [row for row in text.splitlines() if "model.net.channels[1]='abc'" in row]
    assert len(rows) == 1 and "expected an int" in rows[0], text
