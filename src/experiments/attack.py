"""Robust accuracy of a checkpoint: ``python run.py mode=attack ckpt_path=<file>
attack.epsilons=[1,2,4]``.

A mode of its own rather than part of ``mode=eval``: attacks need gradients with respect to the
inputs, which Lightning's test loop turns off (inference mode), they cost ``steps`` forward and
backward passes per budget, and they have their own options.
"""

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from src.errors import ConfigError
from src.experiments import build
from src.robustness.attacks import Attack, check_epsilons, fgsm, predicted, robust_correct
from src.robustness.inputs import input_box, raw_forward, to_raw
from src.robustness.plots import robustness_curves
from src.utils import report

METHODS = ("fgsm", "pgd")


def attack(cfg: DictConfig) -> dict[str, Any]:
    """Clean accuracy and, per method and budget, the accuracy under attack on ``attack.split``;
    written to ``robustness.json`` and plotted in ``robustness.png``."""
    out = Path(cfg.paths.output_dir)
    attacks = attacks_of(cfg.attack)  # bad budgets or steps fail before the checkpoint loads
    pl.seed_everything(cfg.seed, workers=True)
    ckpt, module, datamodule = build.restored(cfg)
    opts = cfg.attack
    box = input_box(datamodule, opts.input, opts.input_range, "attack.input_range")
    accuracy, seen = _accuracy(module, datamodule, attacks, box, opts, _device(cfg))
    metrics: dict[str, Any] = {f"attack/{k}_acc": v for k, v in accuracy.items()}
    metrics |= {"attack/samples": seen, "checkpoint": ckpt, "run_dir": str(out)}
    report.save_config(cfg, out)
    _write(out, cfg, accuracy, box, seen)
    report.finish(metrics, [], out)
    return metrics


def attacks_of(opts: DictConfig) -> dict[str, Attack]:
    """``<method>_eps<budget>`` -> attack, for every method and budget of ``attack.*``."""
    check_epsilons(list(opts.epsilons), "attack.epsilons")
    if opts.split not in ("train", "val", "test"):
        raise ConfigError("attack.split", opts.split, "one of train, val, test")
    unknown = [m for m in opts.methods if m not in METHODS]
    if unknown or not opts.methods:
        raise ConfigError("attack.methods", list(opts.methods), "some of " + ", ".join(METHODS))
    found: dict[str, Attack] = {}
    for eps in opts.epsilons:
        if "fgsm" in opts.methods:
            found[f"fgsm_eps{eps:g}"] = fgsm(eps, key="attack")
        if "pgd" in opts.methods:
            pgd = Attack(eps, opts.steps, opts.step_size, opts.random_start, key="attack")
            found[f"pgd_eps{eps:g}"] = pgd
    return found


def _accuracy(
    module: torch.nn.Module,
    datamodule: Any,
    attacks: dict[str, Attack],
    box: tuple[float, float],
    opts: DictConfig,
    device: torch.device,
) -> tuple[dict[str, float], int]:
    """Accuracy on the clean inputs and under each attack, over the first ``opts.samples``
    samples of the split; and how many samples that was."""
    module.to(device)
    stats = dict(getattr(datamodule, "stats", {}))
    correct: dict[str, list[torch.Tensor]] = {k: [] for k in ["clean", *attacks]}
    seen = 0
    for batch in getattr(datamodule, f"{opts.split}_dataloader")():
        batch = {k: v.to(device) for k, v in batch.items()}
        x, y = to_raw(batch[opts.input], stats, opts.input), batch["target"]
        forward = raw_forward(module, batch, stats, opts.input)
        with torch.no_grad():
            correct["clean"].append(predicted(forward(x)) == y)
        for name, spec in attacks.items():
            correct[name].append(robust_correct(forward, x, y, spec, box))
        seen += len(y)
        if opts.samples is not None and seen >= opts.samples:
            break
    hits = {k: torch.cat(v)[: opts.samples] for k, v in correct.items()}
    return {k: float(v.float().mean()) for k, v in hits.items()}, len(hits["clean"])


def _device(cfg: DictConfig) -> torch.device:
    wants_gpu = cfg.hardware.accelerator in ("gpu", "cuda", "auto")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def _write(
    out: Path, cfg: DictConfig, accuracy: dict[str, float], box: tuple[float, float], n: int
) -> None:
    opts = cfg.attack
    info = {
        "samples": n,
        "split": opts.split,
        "input_range": list(box),
        "pgd": {
            "steps": opts.steps,
            "step_size": opts.step_size,
            "random_start": opts.random_start,
        },
        "accuracy": accuracy,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / opts.output_file).write_text(json.dumps(info, indent=2))
    curves = {
        m: [(float(e), accuracy[f"{m}_eps{e:g}"]) for e in opts.epsilons] for m in opts.methods
    }
    robustness_curves(curves, accuracy["clean"], out / "robustness.png")
