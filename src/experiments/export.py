"""Export a checkpoint: ``python run.py mode=export ckpt_path=<file>``."""

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from src.errors import ConfigError
from src.experiments import build
from src.export import card, formats
from src.export.model import InferenceModel, forward_inputs, raw_samples
from src.utils import report


def export(cfg: DictConfig) -> dict[str, Any]:
    """Write the checkpoint's network, with its preprocessing, in each of ``export.formats``;
    check every file against the eager module on ``export.samples`` test samples."""
    out = Path(cfg.paths.output_dir)
    unknown = [f for f in cfg.export.formats if f not in formats.FORMATS]
    if unknown:
        raise ConfigError("export.formats", unknown[0], f"one of {', '.join(formats.FORMATS)}")
    pl.seed_everything(cfg.seed, workers=True)
    ckpt, module, datamodule = build.restored(cfg)
    stats = getattr(datamodule, "stats", {})
    samples = raw_samples(datamodule.test_dataloader(), stats, cfg.export.samples)
    samples = {k: samples[k] for k in forward_inputs(module, samples)}
    model = InferenceModel(module.eval(), list(samples), stats).eval()
    with torch.no_grad():
        expected = model(*samples.values()).float().numpy()
    folder = out / cfg.export.dir
    folder.mkdir(parents=True, exist_ok=True)
    example = {k: torch.cat([x[:2], x[:2]])[:2] for k, x in samples.items()}  # batch of 2
    files, checks = {}, {}
    for fmt in cfg.export.formats:
        path = folder / f"model{formats.SUFFIX[fmt]}"
        run = formats.write(fmt, model, example, path, cfg.export.opset)
        checks[fmt] = formats.parity(expected, run(samples))
        files[fmt] = path.name
        _check_tolerance(fmt, checks[fmt], cfg.export.tolerance)
    task = OmegaConf.select(cfg, "dataset.task", default=None)
    names = list(getattr(datamodule, "class_names", []) or [])
    info = card.model_card(samples, expected, task, names, files, checks, str(ckpt))
    (folder / "model.json").write_text(json.dumps(info, indent=2))
    state = card.jsonable(datamodule.state_dict())
    (folder / "preprocessing.json").write_text(json.dumps(state, indent=2))
    report.save_config(cfg, out)
    _print(folder, files, checks)
    flat = {f"export/{fmt}_{k}": v for fmt, c in checks.items() for k, v in c.items()}
    return flat | {"export_dir": str(folder), "run_dir": str(out)}


def _print(folder: Path, files: dict[str, str], checks: dict[str, dict[str, float]]) -> None:
    console = Console()
    console.print(f"exported to [bold]{folder}[/] (model.json describes the files):")
    for fmt, check in checks.items():
        agreement = check.get("argmax_agreement")
        classes = "" if agreement is None else f", same class for {agreement:.1%}"
        console.print(f"  {files[fmt]}: max |file - eager| {check['max_abs_diff']:.2g}{classes}")


def _check_tolerance(fmt: str, check: dict[str, float], tolerance: float) -> None:
    if check["scaled_diff"] <= tolerance and check.get("argmax_agreement", 1.0) == 1.0:
        return
    raise ConfigError(
        "export.tolerance",
        tolerance,
        f"the {fmt} file to match the eager model; it differs by up to "
        f"{check['max_abs_diff']:.3g} ({check['scaled_diff']:.3g} of the output's scale; "
        f"argmax agreement {check.get('argmax_agreement', 1.0):.3f})",
        "report the model to the exporter's maintainers, try another of export.formats, or "
        "raise export.tolerance if the difference is acceptable",
    )
