"""The language-modelling task: it learns, through the framework's train entry and alone."""

import math
from functools import partial
from pathlib import Path

import torch

from src.data.text_corpus import CorpusSpec, fitted_tokenizer
from src.experiments.train import train
from src.modules.language_model import LanguageModel
from src.networks.gpt import GPT
from tests.conftest import Compose


def test_tiny_gpt_trains_a_few_steps_on_the_default_corpus(compose_cfg: Compose) -> None:
    cfg = compose_cfg(
        "experiment=lm_stdlib_char",
        "model=gpt_tiny",
        "trainer.limit_train_batches=6",
        "model.callbacks.samples.every_n_steps=3",
        "model.callbacks.samples.max_new_tokens=20",
    )
    metrics = train(cfg)
    uniform = math.log(cfg.dataset.vocab_size)  # the loss of a model that knows nothing
    assert metrics["val/loss"] < uniform
    assert math.isclose(metrics["val/ppl"], math.exp(metrics["val/loss"]), rel_tol=1e-4)
    assert math.isclose(
        metrics["val/bits_per_token"], metrics["val/loss"] / math.log(2), rel_tol=1e-4
    )
    assert metrics["train/tokens_per_s"] > 0
    samples = Path(metrics["run_dir"]) / "samples" / "step_000003.txt"
    assert samples.read_text().startswith("\n")  # continues the callback's prompt
    assert metrics["global_step"] == 6


def test_loss_falls_when_overfitting_one_batch(tmp_path: Path) -> None:
    spec = CorpusSpec(cache_dir=str(tmp_path))
    vocab = fitted_tokenizer(spec).vocab_size
    torch.manual_seed(0)
    net = GPT(vocab, block_size=16, n_layer=2, n_head=2, n_embd=32)
    module = LanguageModel(net, partial(torch.optim.AdamW, lr=1e-2))
    optimizer = module.configure_optimizers()
    batch = {"tokens": torch.randint(0, vocab, (4, 16)), "target": torch.randint(0, vocab, (4, 16))}
    losses = []
    for _ in range(40):
        loss = module._losses(batch).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.25 * losses[0], losses[::10]


def test_writing_samples_leaves_training_unchanged(compose_cfg: Compose, tmp_path: Path) -> None:
    """Samples draw from a generator of their own: with dropout, a run that writes samples
    reaches exactly the loss of one that does not."""
    losses = []
    for every in (0, 2):
        cfg = compose_cfg(
            "experiment=lm_stdlib_char",
            "model=gpt_tiny",
            "model.net.dropout=0.2",
            f"model.callbacks.samples.every_n_steps={every}",
            "model.callbacks.samples.max_new_tokens=5",
            "test=false",
            run_dir=tmp_path / str(every),
        )
        losses.append(train(cfg)["val/loss"])
    assert (tmp_path / "2" / "samples" / "step_000002.txt").is_file()
    assert losses[0] == losses[1]
