"""Explain a checkpoint's predictions: ``python run.py mode=explain ckpt_path=<file>``.

Attributions (Captum) of ``explain.samples`` samples in the input's own units, a figure per
sample (image overlays, signal and row bar charts; token ids: one HTML page), their top
features in ``attributions.json``, and the faithfulness checks of src/explain/faithfulness.py
on up to ``explain.faithfulness_samples`` samples.
"""

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from src.errors import ConfigError
from src.experiments import build
from src.explain import faithfulness, figures, methods, outputs
from src.explain.subject import Subject, subject_of
from src.utils import report

TARGETS = ("predicted", "target")
SPLITS = ("train", "val", "test")


def explain(cfg: DictConfig) -> dict[str, Any]:
    """Attribute, draw, check faithfulness; write ``<explain.output_dir>/attributions.json``."""
    opts, out = cfg.explain, Path(cfg.paths.output_dir)
    _check(opts)
    pl.seed_everything(cfg.seed, workers=True)
    ckpt, module, datamodule = build.restored(cfg)
    stats = dict(getattr(datamodule, "stats", {}))
    subject = subject_of(module, stats, _samples(datamodule, opts), opts.target, opts.input)
    asked = None if opts.methods is None else list(opts.methods)
    chosen = methods.chosen_methods(asked, subject.kind, module, opts.layer)
    per_sample = [m for m in chosen if m != "permutation"]
    attributions = {m: subject.attribute(m, opts.samples, opts) for m in per_sample}
    folder = out / opts.output_dir
    folder.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"input": subject.name, "kind": subject.kind, "methods": chosen}
    info["samples"] = _records(subject, attributions, datamodule, opts, folder)
    metrics = _checks(subject, chosen, opts, folder, info)
    outputs.write_json(folder / "attributions.json", info | {"checkpoint": ckpt})
    report.save_config(cfg, out)
    metrics |= {"explanations": str(folder), "checkpoint": ckpt, "run_dir": str(out)}
    report.finish(metrics, [], out)
    return metrics


def _check(opts: DictConfig) -> None:
    if opts.split not in SPLITS:
        raise ConfigError("explain.split", opts.split, "one of " + ", ".join(SPLITS))
    if opts.target not in TARGETS:
        raise ConfigError("explain.target", opts.target, "one of " + ", ".join(TARGETS))
    for key in ("samples", "ig_steps", "window", "top_k", "faithfulness_samples"):
        if opts[key] < 1:
            raise ConfigError(f"explain.{key}", opts[key], "an integer >= 1")


def _samples(datamodule: Any, opts: DictConfig) -> dict[str, torch.Tensor]:
    """The first samples of ``explain.split``, as many as explained or checked for faithfulness."""
    wanted, parts = max(opts.samples, opts.faithfulness_samples), []
    for batch in getattr(datamodule, f"{opts.split}_dataloader")():
        parts.append(batch)
        if sum(len(b["target"]) for b in parts) >= wanted:
            break
    return {k: torch.cat([b[k] for b in parts])[:wanted] for k in parts[0]}


def _records(
    subject: Subject,
    attributions: dict[str, torch.Tensor],
    datamodule: Any,
    opts: DictConfig,
    folder: Path,
) -> list[dict[str, Any]]:
    """Each explained sample's classes, top features per method and figure file."""
    n = len(next(iter(attributions.values()))) if attributions else 0
    if n == 0:  # explain.methods=[permutation]: a global importance, no per-sample one
        return []
    names = list(getattr(datamodule, "class_names", []) or [])
    predicted, explained = subject.predicted[:n].tolist(), subject.explained[:n].tolist()
    label = [int(v) for v in subject.y[:n].tolist()]
    titles = [
        f"#{i} label {_name(names, t)}, predicted {_name(names, p)}"
        for i, (t, p) in enumerate(zip(label, predicted, strict=True))
    ]
    features = [outputs.feature_names(subject.kind, subject.x.shape[1:], opts.feature_names)] * n
    if subject.kind == "tokens":
        features = [_token_strings(datamodule, row) for row in subject.x[:n].tolist()]
        scores = attributions["integrated_gradients"]
        figures.token_html(list(zip(titles, features, scores, strict=True)), folder / "tokens.html")
        files = ["tokens.html"] * n
    else:
        files = outputs.write_figures(
            subject.kind, subject.x[:n], attributions, titles, features[0], folder, opts.top_k
        )
    return [
        {
            "index": i,
            "label": label[i],
            "predicted": predicted[i],
            "explained_class": explained[i],
            "figure": files[i],
            "top_features": {
                m: outputs.top_features(a[i], features[i], opts.top_k)
                for m, a in attributions.items()
            },
        }
        for i in range(n)
    ]


def _name(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def _token_strings(datamodule: Any, ids: list[int]) -> list[str]:
    """The tokens as text when the datamodule has a tokenizer that decodes; else ``#<id>``."""
    tokenizer = getattr(datamodule, "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "decode"):
        return [tokenizer.decode([i]) for i in ids]
    return [f"#{i}" for i in ids]


def _checks(
    subject: Subject, chosen: list[str], opts: DictConfig, folder: Path, info: dict[str, Any]
) -> dict[str, Any]:
    """Permutation importance (rows) and faithfulness of integrated gradients, on every sample
    taken; added to ``info`` and returned as ``explain/*`` metrics."""
    metrics: dict[str, Any] = {"explain/samples": len(subject.x)}
    names = outputs.feature_names(subject.kind, subject.x.shape[1:], opts.feature_names)
    if "permutation" in chosen:
        drops = methods.permutation_importance(subject.on_all, subject.x, subject.y)
        path = folder / "permutation_importance.png"
        figures.feature_bars({"permutation": drops}, names, opts.top_k, "accuracy lost", path)
        order = drops.argsort(descending=True).tolist()
        info["permutation_importance"] = {names[j]: float(drops[j]) for j in order}
    if subject.kind == "tokens":
        return metrics
    attr = subject.attribute("integrated_gradients", len(subject.x), opts)
    if subject.kind == "table":
        k = max(1, min(opts.top_k, subject.x.shape[1] // 3))
        found = faithfulness.feature_removal(
            subject.on_all, subject.x, subject.y, attr, subject.baseline, k
        )
    else:
        curves = faithfulness.deletion(subject.on_all, subject.x, attr)
        figures.deletion_curves(curves, folder / "deletion.png")
        found = {
            f"deletion_{k}_mean": sum(v) / len(v) for k, v in curves.items() if k != "fractions"
        }
        info["deletion"] = curves
    info["faithfulness"] = found
    return metrics | {f"explain/{k}": v for k, v in found.items()}
