"""Text from a trained language model: ``python run.py mode=generate ckpt_path=<file>``.

:func:`sample` continues a prompt token by token (temperature, top-k, top-p, a key/value
cache); :func:`generate` is the entry of ``conf/mode/generate.yaml`` and streams the text to
the console; :class:`SampleText` writes a few continuations to the run directory during
training.
"""

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig
from torch.nn import functional as F

from src.data.text_tokenizers import Tokenizer
from src.errors import UserError
from src.networks.gpt import GPT

log = logging.getLogger(__name__)


def _next_token(
    logits: torch.Tensor,
    temperature: float,
    top_k: int,
    top_p: float,
    generator: torch.Generator | None = None,
) -> int:
    """One id drawn from the (V,) logits; ``temperature`` 0 is greedy (argmax)."""
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits.float() / temperature
    if 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0 < top_p < 1:  # nucleus: the smallest set of top ids holding top_p of the mass
        sorted_logits, order = logits.sort(descending=True)
        mass = sorted_logits.softmax(-1).cumsum(-1)
        drop = mass - sorted_logits.softmax(-1) > top_p  # keeps the id that crosses top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    return int(torch.multinomial(F.softmax(logits, -1), 1, generator=generator))


@torch.no_grad()
def sample(
    net: GPT,
    prompt: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    use_cache: bool = True,
    on_token: Callable[[int], None] | None = None,
    generator: torch.Generator | None = None,
) -> list[int]:
    """``max_new_tokens`` ids continuing ``prompt``.

    The context is the last ``block_size`` tokens. With ``use_cache``, each step feeds only
    the new token through the network, reusing the keys and values of the earlier ones; once
    the context is full, the window slides and is fed again whole, exactly as without a cache.

    Args:
        net: the language model, in eval mode.
        prompt: token ids to continue (at least one).
        max_new_tokens: tokens generated.
        temperature: divides the logits; 0 picks the most likely token (greedy).
        top_k: draw from the k most likely tokens only (0: all).
        top_p: draw from the most likely tokens holding this probability mass (1: all).
        use_cache: reuse keys and values of earlier positions.
        on_token: called with each new id as soon as it is drawn (streaming).
        generator: the random draws' generator (on the network's device); None: torch's
            global one.
    """
    device = next(net.parameters()).device
    tokens, block = list(prompt), net.block_size
    cache, fed = None, 0  # fed: how many of the context's tokens the cache holds
    for _ in range(max_new_tokens):
        context = tokens[-block:]
        if not use_cache:
            logits = net(torch.tensor([context], device=device))
        else:
            if cache is None or len(tokens) > block:  # first step, or the window slid
                cache, fed = net.new_cache(), 0
            new = context[fed:]
            logits = net(torch.tensor([new], device=device), cache)
            fed = len(context)
        token = _next_token(logits[0, -1], temperature, top_k, top_p, generator)
        tokens.append(token)
        if on_token is not None:
            on_token(token)
    return tokens[len(prompt) :]


class Streamer:
    """Prints the text of the ids given so far as it grows (a BPE token may be half a
    character: only decoded text that is complete is printed)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer, self.shown = tokenizer, 0
        self.ids: list[int] = []

    def __call__(self, token: int) -> None:
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if not text.endswith("\ufffd"):
            sys.stdout.write(text[self.shown :])
            sys.stdout.flush()
            self.shown = len(text)


def generate(cfg: DictConfig) -> dict[str, Any]:
    """Continue ``generate.prompt`` with the checkpoint's model; print and save the text."""
    from src.experiments import build
    from src.modules.language_model import LanguageModel
    from src.utils import report
    from src.utils.checkpoints import resume_path, verify_checkpoint

    out, opts = Path(cfg.paths.output_dir), cfg.generate
    pl.seed_everything(opts.seed if opts.seed is not None else cfg.seed)
    ckpt = resume_path(cfg)
    module = build.module(cfg)
    if not isinstance(module, LanguageModel):
        raise UserError(
            f"mode=generate needs a language model; model={cfg.model._target_} is not one. "
            "Fix: give the experiment the checkpoint was trained with, e.g. "
            "experiment=lm_stdlib_char, and a checkpoint of a language model"
        )
    checkpoint = verify_checkpoint(ckpt, module)
    module.load_state_dict(checkpoint["state_dict"])
    tokenizer = build.datamodule(cfg, checkpoint).tokenizer  # type: ignore[attr-defined]
    if tokenizer is None:
        raise UserError(f"checkpoint '{ckpt}' holds no tokenizer. Fix: {_FIX_TOKENIZER}")
    prompt = [int(i) for i in tokenizer.encode(str(opts.prompt))]
    if not prompt:
        raise UserError(
            "generate.prompt is empty. Fix: give text to continue, e.g. generate.prompt=The"
        )
    net = module.net.to(_device(cfg)).eval()
    if not isinstance(net, GPT):
        raise UserError(f"mode=generate needs model.net to be a GPT, not {type(net).__name__}")
    texts, start, count = [], time.perf_counter(), 0
    for i in range(opts.num_samples):
        print(f"--- sample {i + 1} ---\n{opts.prompt}", end="", flush=True)
        new = sample(
            net, prompt, opts.max_new_tokens, opts.temperature, opts.top_k, opts.top_p,
            opts.use_cache, on_token=Streamer(tokenizer),
        )  # fmt: skip
        print(flush=True)
        texts.append(str(opts.prompt) + tokenizer.decode(new))
        count += len(new)
    seconds = time.perf_counter() - start
    report.save_config(cfg, out)
    path = out / opts.output_file
    path.write_text("\n\n".join(texts) + "\n")
    return {
        "samples": str(path),
        "tokens": count,
        "tokens_per_s": count / seconds,
        "run_dir": str(out),
    }


_FIX_TOKENIZER = "use a checkpoint written by a run with dataset=text_corpus"


def _device(cfg: DictConfig) -> torch.device:
    wanted = str(cfg.hardware.accelerator)
    cuda = wanted in ("gpu", "cuda") or (wanted == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if cuda else "cpu")


class SampleText(pl.Callback):
    """Every ``every_n_steps`` training steps, writes ``num_samples`` continuations of
    ``prompt`` to ``<output_dir>/samples/step_<N>.txt`` and to TensorBoard (rank 0).

    Args:
        output_dir: the run directory.
        every_n_steps: optimizer steps between samples; 0 disables.
        prompt: text to continue (must encode with the tokenizer).
        max_new_tokens: tokens per sample.
        num_samples: samples per file.
        temperature, top_k: as in :func:`sample`.
    """

    def __init__(
        self,
        output_dir: str,
        every_n_steps: int = 500,
        prompt: str = "\n",
        max_new_tokens: int = 200,
        num_samples: int = 2,
        temperature: float = 1.0,
        top_k: int = 0,
    ) -> None:
        self.output_dir, self.every_n_steps, self.prompt = Path(output_dir), every_n_steps, prompt
        self.max_new_tokens, self.num_samples = max_new_tokens, num_samples
        self.temperature, self.top_k = temperature, top_k

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        step = trainer.global_step
        if not self.every_n_steps or step % self.every_n_steps or not trainer.is_global_zero:
            return
        tokenizer = getattr(trainer.datamodule, "tokenizer", None)  # type: ignore[attr-defined]
        net = getattr(pl_module, "net", None)
        if tokenizer is None or not isinstance(net, GPT):
            return
        was_training = net.training
        net.eval()
        prompt = [int(i) for i in tokenizer.encode(self.prompt)]
        # a generator of its own: sampling leaves the training's random stream (dropout) as is
        device = next(net.parameters()).device
        generator = torch.Generator(device).manual_seed(step)
        texts = []
        for _ in range(self.num_samples):
            new = sample(
                net, prompt, self.max_new_tokens, self.temperature, self.top_k,
                generator=generator,
            )  # fmt: skip
            texts.append(self.prompt + tokenizer.decode(new))
        net.train(was_training)
        path = self.output_dir / "samples" / f"step_{step:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n---\n\n".join(texts) + "\n")
        log_texts(trainer, texts, step)


def log_texts(trainer: pl.Trainer, texts: list[str], step: int) -> None:
    """The samples to TensorBoard (its Text tab, ``samples/<i>``); the other loggers have the
    files in the run directory."""
    for logger in trainer.loggers:
        writer: Any = getattr(logger, "experiment", None)
        if hasattr(writer, "add_text"):  # TensorBoard's SummaryWriter
            for i, text in enumerate(texts):
                writer.add_text(f"samples/{i}", f"```\n{text}\n```", step)
