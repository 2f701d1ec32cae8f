"""nanoGPT's CPU "baby GPT" on tinyshakespeare: run.py's code path vs a plain PyTorch loop.

The setting of nanoGPT's ``shakespeare_char`` README for CPUs: 4 layers, 4 heads, 128 wide,
block 64, batch 12, dropout 0, AdamW (betas 0.9/0.99, weight decay 0.1 on every matrix,
the tied token embedding included: model.decay_embeddings=true), lr 1e-3 with 100 steps of
warm-up from 0 (lr * (it + 1) / 101: scheduler.warmup_start_factor=1/101) then cosine to 1e-4
at step 2,000, gradient clipping 1.0; character-level, first 90 % of the text for training,
last 10 % for validation. nanoGPT reports val loss ~1.88, an estimate over 20 random batches
of validation windows (its --eval_iters=20); ours is the mean over every window of the split,
and nanoGPT's estimate of the same final network is printed beside it.

Both sides train the same network (built from the same config, same seed), on the same
random windows of the same memory-mapped token file, with the same optimizer groups,
schedule and thread count, and both run a whole validation pass after each 250-step epoch.
The framework side is what ``python run.py experiment=lm_stdlib_char dataset.path=...``
builds (src.experiments.build; trainer.fit) with a timing callback added that runs one epoch
of the plain loop before every framework epoch: each framework epoch is paired with a plain
epoch of the same moment (as in bench/overhead.py), and the speed ratio is the median of the
per-epoch ratios, the first epoch dropped as warm-up. Times are CPU seconds of the training
thread (less disturbed on a shared machine than wall time; wall ratios printed beside).

    OMP_NUM_THREADS=1 python bench/lm.py --data ../shared/data/tinyshakespeare/input.txt

Extra arguments are config overrides of both sides (e.g. ``seed=1337``).
"""

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

import src.config.schema  # noqa: E402, F401  registers the structured config
from src.config.compose import compose_config  # noqa: E402
from src.experiments import build  # noqa: E402
from src.modules.language_model import decay_groups  # noqa: E402

Clock = tuple[float, float]  # (CPU seconds of this thread, wall seconds)
# nanoGPT's optimizer recipe beyond the experiment's: decay on every matrix (the tied token
# embedding too) and warm-up from 0, lr * (it + 1) / (warmup + 1) = LinearLR from 1 / 101
NANOGPT = ["model.decay_embeddings=true", f"scheduler.warmup_start_factor={1 / 101}"]


def clock() -> Clock:
    return time.thread_time(), time.perf_counter()


class PlainLoop:
    """The same model, data, optimizer groups and schedule in a hand-written loop."""

    def __init__(self, cfg: DictConfig) -> None:
        torch.manual_seed(cfg.seed)
        self.dm = build.datamodule(cfg)
        self.dm.setup("fit")
        self.net = build.instantiate(cfg, "model.net")
        groups = decay_groups(self.net, decay_embeddings=cfg.model.decay_embeddings)
        self.optimizer = build.instantiate(cfg, "optimizer")(groups)
        steps = cfg.trainer.max_epochs * cfg.dataset.batches_per_epoch
        warmup = cfg.scheduler.warmup
        self.schedule = torch.optim.lr_scheduler.SequentialLR(
            self.optimizer,
            [
                torch.optim.lr_scheduler.LinearLR(
                    self.optimizer, cfg.scheduler.warmup_start_factor, 1.0, total_iters=warmup
                ),
                torch.optim.lr_scheduler.CosineAnnealingLR(
                    self.optimizer, T_max=steps - warmup, eta_min=cfg.scheduler.factory.eta_min
                ),
            ],
            milestones=[warmup],
        )
        self.clip, self.epoch_no, self.val_loss = cfg.trainer.gradient_clip_val, 0, math.nan

    def epoch(self) -> Clock:
        start = clock()
        net, optimizer = self.net, self.optimizer
        loader = self.dm.train_dataloader()
        loader.sampler.set_epoch(self.epoch_no)
        net.train()
        for batch in loader:
            logits = net(batch["tokens"])
            loss = F.cross_entropy(logits.flatten(0, 1), batch["target"].flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), self.clip)
            optimizer.step()
            self.schedule.step()
        net.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in self.dm.val_dataloader():
                logits = net(batch["tokens"])
                target = batch["target"].flatten()
                total += float(F.cross_entropy(logits.flatten(0, 1), target, reduction="sum"))
                count += target.numel()
        self.val_loss, self.epoch_no = total / count, self.epoch_no + 1
        end = clock()
        return end[0] - start[0], end[1] - start[1]


class Paired(pl.Callback):
    """Before every framework epoch, one plain epoch; framework epochs are timed between."""

    def __init__(self, plain: PlainLoop) -> None:
        self.plain, self.plain_times, self.marks = plain, [], []  # type: ignore[var-annotated]
        self.val_losses: list[tuple[float, float]] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.marks:
            self.marks[-1].append(clock())
        self.plain_times.append(self.plain.epoch())
        self.marks.append([clock()])

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        framework = float(trainer.callback_metrics["val/loss"])  # validated before this hook
        self.val_losses.append((framework, self.plain.val_loss))

    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.marks[-1].append(clock())

    def framework_times(self) -> list[Clock]:
        return [(b[0] - a[0], b[1] - a[1]) for a, b in self.marks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", default=str(ROOT.parent / "shared/data/tinyshakespeare/input.txt")
    )
    parser.add_argument("--epochs", type=int, default=8, help="of 250 steps (8: 2,000 steps)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--plain-only",
        action="store_true",
        help="train the plain loop alone (the framework trains the same to 4 decimals): "
        "recipe variants in half the time",
    )
    parser.add_argument("overrides", nargs="*", help="config overrides of both sides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(tempfile.mkdtemp(prefix="bench_lm_"))
    cfg = compose_config(
        [
            "experiment=lm_stdlib_char",
            f"dataset.path={args.data}",
            "dataset.test_fraction=0",  # nanoGPT: 90 % train, 10 % validation
            f"paths.data_dir={ROOT / 'data'}",
            f"paths.log_dir={out}",
            f"trainer.max_epochs={args.epochs}",
            "hardware=cpu",
            "test=false",
            "print_config=false",
            "++callbacks.progress_bar=null",
            *NANOGPT,
            *args.overrides,
        ],
        out,
    )
    plain = PlainLoop(cfg)
    if args.plain_only:
        for _ in range(args.epochs):
            plain.epoch()
        print(f"plain loop val loss {plain.val_loss:.4f} ({' '.join(args.overrides)})")
        print_estimates(plain.net, plain.dm.splits["val"], cfg)
        return
    pl.seed_everything(cfg.seed)
    datamodule, module = build.datamodule(cfg), build.module(cfg)
    paired = Paired(plain)
    trainer = build.trainer(cfg, [*build.callbacks(cfg), paired], build.loggers(cfg))
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    wall = time.perf_counter() - start
    tokens = cfg.dataset.batches_per_epoch * cfg.dataset.batch_size * cfg.dataset.block_size
    report(paired, tokens, wall, args)
    print_estimates(module.net, datamodule.splits["val"], cfg)


def print_estimates(net: torch.nn.Module, tokens: Any, cfg: DictConfig) -> None:
    estimates = [nanogpt_estimate(net, tokens, cfg, i) for i in range(5)]
    print(
        "nanoGPT's estimate of the final val loss (20 random batches of 12 windows), "
        "5 draws: " + " ".join(f"{e:.4f}" for e in estimates)
    )


@torch.no_grad()
def nanogpt_estimate(net: torch.nn.Module, tokens: Any, cfg: DictConfig, draw: int) -> float:
    """nanoGPT's ``estimate_loss`` with ``eval_iters=20``: mean loss of 20 batches of random
    windows (``draw`` seeds the windows)."""
    net.eval()
    generator = torch.Generator().manual_seed(1337 + draw)
    block, batch, losses = cfg.dataset.block_size, cfg.dataset.batch_size, []
    for _ in range(20):
        starts = torch.randint(len(tokens) - block, (batch,), generator=generator).numpy()
        windows = torch.from_numpy(tokens[starts[:, None] + np.arange(block + 1)].astype(np.int64))
        logits = net(windows[:, :-1])
        losses.append(float(F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())))
    return statistics.mean(losses)


def report(paired: Paired, tokens: int, wall: float, args: Any) -> None:
    fw, hand = paired.framework_times(), paired.plain_times
    print(f"threads {args.threads}; {tokens} training tokens per epoch; both sides {wall:.0f} s")
    print("epoch  framework tok/s (cpu, wall)  plain tok/s (cpu, wall)  val loss fw / plain")
    for i, ((fc, fwl), (hc, hw), (vf, vh)) in enumerate(
        zip(fw, hand, paired.val_losses, strict=False)
    ):
        print(
            f"{i + 1:5d}  {tokens / fc:9.0f} {tokens / fwl:9.0f}        "
            f"{tokens / hc:9.0f} {tokens / hw:9.0f}      {vf:.4f} / {vh:.4f}"
        )
    cpu = statistics.median(h[0] / f[0] for f, h in zip(fw[1:], hand[1:], strict=False))
    wall_ratio = statistics.median(h[1] / f[1] for f, h in zip(fw[1:], hand[1:], strict=False))
    print(
        f"framework / plain tokens/s, median over epochs 2..: cpu {cpu:.3f}, wall {wall_ratio:.3f}"
    )
    vf, vh = paired.val_losses[-1]
    print(f"final val loss: framework {vf:.4f}, plain loop {vh:.4f} (nanoGPT README: ~1.88)")


if __name__ == "__main__":
    main()
