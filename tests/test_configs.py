"""Every config under conf/ composes, and composing never imports torch."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONF, ROOT, Compose, run_py_importing_none_of
from tests.data.fakes import own_data_for

GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra")


def members(group: str) -> list[str]:
    return sorted(
        str(p.relative_to(CONF / group).with_suffix(""))
        for p in (CONF / group).rglob("*.yaml")
        if not p.name.startswith("_")
    )


ALL = [(g, m) for g in GROUPS for m in members(g)]
# a member whose default partner cannot take it: the data a model reads, a model for the data
PARTNER = {
    "dataset": {m: ["model=mlp"] for m in members("dataset")}
    | {"text_corpus": ["model=gpt_tiny"]}
    | {m: ["model=neumf"] for m in ("interactions_generated", "interactions_file", "movielens")}
    | {"digit_captions": ["model=multimodal"], "multimodal_file": ["model=multimodal"]}
    | {
        m: ["model=text_lstm"]
        for m in ("text_file", "sentiment_grammar", "imdb", "sst2", "ag_news")
    },
    "model": {
        **{f"text_{m}": ["dataset=sentiment_grammar"] for m in ("lstm", "cnn", "transformer")},
        "text_minilm": [
            "dataset=sentiment_grammar",
            "dataset.tokenizer=pretrained",
            "dataset.tokenizer_path=${text.minilm_dir:}",
        ],
        "gpt": ["dataset=text_corpus"],
        "gpt_small": ["dataset=text_corpus"],
        "gpt_tiny": ["dataset=text_corpus"],
        "gpt_lora": ["dataset=text_corpus"],
        "cnn1d": ["dataset=mnist1d"],
        "gru": ["dataset=mnist1d"],
        "mlp_regressor": ["dataset=csv", "dataset.task=regression"],
        "mel_cnn": ["dataset=spoken_digits"],
        "mel_gru": ["dataset=spoken_digits"],
        "multimodal": ["dataset=digit_captions"],
    }
    | {m: ["dataset=interactions_generated"] for m in ("gmf", "ncf_mlp", "neumf", "popularity")},
}


@pytest.mark.parametrize(("group", "member"), ALL, ids=[f"{g}={m}" for g, m in ALL])
def test_every_config_composes_and_instantiates(
    compose_cfg: Compose, tmp_path: Path, group: str, member: str
) -> None:
    """Composes, resolves, and builds what it configures: the datamodule and the model (its
    networks, optimizer, schedule, metrics and task callbacks), the callbacks, the loggers, the
    compression member and, where this machine can run it, the trainer."""
    from omegaconf import OmegaConf

    from src.experiments import build

    overrides = [f"{group}={member}", *PARTNER.get(group, {}).get(member, [])]
    files = own_data_for(*overrides, tmp_path=tmp_path)
    cfg = compose_cfg(*overrides, "logger=none", *files)
    # resolving every interpolation catches dangling ${...} references
    OmegaConf.to_container(cfg, resolve=True)
    assert build.datamodule(cfg) is not None
    module = build.module(cfg)
    assert sum(p.numel() for p in module.parameters()) > 0
    callbacks = build.callbacks(cfg)
    loggers = build.loggers(compose_cfg(f"{group}={member}")) if group == "logger" else []
    if cfg.hardware.accelerator in ("cpu", "auto"):
        build.trainer(cfg, callbacks, loggers)


def test_all_groups_present() -> None:
    for group in (
        "dataset",
        "model",
        "optimizer",
        "scheduler",
        "compression",
        "hardware",
        "logger",
        "callbacks",
        "paths",
        "experiment",
        "debug",
    ):
        assert members(group), f"conf/{group}/ has no member"


def test_experiments_open_with_their_launch_command() -> None:
    for path in (CONF / "experiment").glob("*.yaml"):
        text = path.read_text()
        assert text.startswith("# @package _global_"), path
        assert f"python run.py experiment={path.stem}" in text, f"{path} lacks its launch command"


def test_printing_config_does_not_import_torch() -> None:
    out = run_py_importing_none_of(["--cfg", "job"], ("torch",))
    assert out.returncode == 0, out.stderr
    assert "_target_: src.data.datamodule.InMemoryDataModule" in out.stdout


def test_help_lists_groups() -> None:
    out = subprocess.run(
        [sys.executable, "run.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    for group in ("dataset:", "model:", "hardware:", "compression:"):
        assert group in out.stdout


def test_no_stray_files_in_conf() -> None:
    assert not [p for p in Path(CONF).rglob("*") if p.is_file() and p.suffix != ".yaml"]
