"""Generation: the key/value cache changes nothing; mode=generate from a checkpoint, its errors."""

from pathlib import Path

import pytest
import torch

from src.errors import ConfigError, DataError, UserError
from src.experiments.train import train
from src.modules.generation import generate, sample
from src.networks.gpt import GPT
from tests.conftest import Compose


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_greedy_generation_with_the_cache_gives_exactly_the_tokens_without(positions: str) -> None:
    torch.manual_seed(0)
    net = GPT(30, block_size=16, n_layer=2, n_head=2, n_embd=32, positions=positions).eval()
    with torch.no_grad():  # larger weights than GPT's init: greedy text that varies
        for p in net.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.3)
    prompt = [1, 2, 3, 4, 5]
    # 40 new tokens: the 16-token window slides past the prompt
    cached = sample(net, prompt, 40, temperature=0.0, use_cache=True)
    plain = sample(net, prompt, 40, temperature=0.0, use_cache=False)
    assert cached == plain
    assert len(set(cached)) > 1  # not a degenerate constant sequence


def test_sampling_keeps_to_top_k_and_is_seeded() -> None:
    torch.manual_seed(0)
    net = GPT(30, block_size=16, n_layer=1, n_head=2, n_embd=16).eval()
    logits = net(torch.tensor([[1, 2, 3]]))[0, -1]
    top2 = set(logits.topk(2).indices.tolist())
    torch.manual_seed(1)
    first = sample(net, [1, 2, 3], 1, temperature=1.0, top_k=2)
    assert set(first) <= top2
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(sample(net, [1, 2, 3], 20, temperature=1.0, top_p=0.9))
    assert runs[0] == runs[1]


def test_generate_from_a_checkpoint_and_its_errors(compose_cfg: Compose, tmp_path: Path) -> None:
    lm = ["experiment=lm_stdlib_char", "model=gpt_tiny"]
    ckpt = Path(train(compose_cfg(*lm))["run_dir"]) / "checkpoints" / "last.ckpt"
    opts = ["mode=generate", f"ckpt_path={ckpt}", "generate.max_new_tokens=30"]
    out = tmp_path / "gen"
    metrics = generate(compose_cfg(*lm, *opts, "generate.prompt='def '", run_dir=out))
    text = (out / "generated.txt").read_text()
    assert text.startswith("def ") and metrics["tokens"] == 30

    with pytest.raises(ConfigError, match=r"generate\.prompt='déf €'.*leave out"):
        generate(compose_cfg(*lm, *opts, "generate.prompt='déf €'", run_dir=out))

    digits = Path(train(compose_cfg(run_dir=tmp_path / "digits"))["run_dir"])
    other = [f"ckpt_path={digits / 'checkpoints' / 'last.ckpt'}", "mode=generate"]
    with pytest.raises(UserError, match="mode=generate needs a language model"):
        generate(compose_cfg(*other, run_dir=out))
    with pytest.raises(DataError, match="holds no TextDataModule state"):
        generate(compose_cfg(*lm, *other, run_dir=out))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("generate.top_p=1.5", "generate.top_p"),
        ("generate.temperature=-1", "generate.temperature"),
        ("dataset.block_size=0", "dataset.block_size"),
        ("dataset.tokenizer=words", "dataset.tokenizer"),
    ],
)
def test_bad_generation_and_corpus_options_fail_before_anything_runs(
    compose_cfg: Compose, override: str, key: str
) -> None:
    from src.config.validate import validate

    cfg = compose_cfg("experiment=lm_stdlib_char", "mode=generate", "ckpt_path=null", override)
    with pytest.raises(ConfigError, match=rf"^{key}="):
        validate(cfg)


def test_samples_reach_tensorboard(compose_cfg: Compose, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = compose_cfg(
        "experiment=lm_stdlib_char",
        "model=gpt_tiny",
        "logger=tensorboard",
        "model.callbacks.samples.every_n_steps=2",
        "model.callbacks.samples.max_new_tokens=5",
        "test=false",
        run_dir=tmp_path,
    )
    train(cfg)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    assert "samples/0/text_summary" in events.Tags()["tensors"]
