"""k-fold cross-validation of any experiment: ``python run.py cv.folds=5 [experiment=...]``.

The loop knows no task: fold ``i``'s job is the same config with ``cv.fold=i`` and its own
output folder ``fold_<i>/``; the datamodule holds out fold ``i`` of the non-test rows as the
validation split (``dataset.folds``/``dataset.fold`` interpolate ``cv.*``). The run's
``metrics.json`` holds every numeric metric's mean over the folds under its own name, and its
standard deviation as ``<name>_std``, so that ``optimized_metric`` (what a sweep optimises),
``compare`` and alerts read the cross-validated value without knowing about folds.
"""

import csv
import logging
import math
import statistics
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict
from rich.console import Console
from rich.table import Table

from src.utils import report

log = logging.getLogger(__name__)
Entry = Callable[[DictConfig], dict[str, Any]]


def cross_validate(cfg: DictConfig, entry: Entry) -> dict[str, Any]:
    """Run ``entry`` once per fold; write ``cv_folds.csv``, ``metrics.json`` and a summary.

    Returns:
        The mean over the folds of every numeric metric, ``<metric>_std`` (sample standard
        deviation, ddof=1), ``cv/folds`` and the run directory.
    """
    out, folds = Path(cfg.paths.output_dir), int(cfg.cv.folds)
    results = []
    for fold in range(folds):
        log.info("cross-validation: fold %d of %d", fold + 1, folds)
        results.append(entry(fold_config(cfg, fold, out / f"fold_{fold}")))
    summary: dict[str, Any] = summarise(results) | {"cv/folds": folds, "run_dir": str(out)}
    out.mkdir(parents=True, exist_ok=True)
    report.save_config(cfg, out)
    write_folds(out / "cv_folds.csv", results)
    report.write_metrics(out, summary)
    print_summary(summary, folds, out)
    return summary


def fold_config(cfg: DictConfig, fold: int, output_dir: Path) -> DictConfig:
    """``cfg`` for one fold: ``cv.fold`` set, writing into ``output_dir``.

    In a pruned Optuna sweep only the first fold reports to the pruner: the others would
    report the same epochs again.
    """
    one = cfg.copy()
    with open_dict(one):
        one.cv.fold = fold
        one.paths.output_dir = str(output_dir)
        if fold > 0 and one.get("optuna") is not None:
            one.optuna.prune = False
        one.print_config = bool(cfg.print_config) and fold == 0
    return one


def numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, float]:
    """Mean and ``_std`` of every numeric metric that all folds report."""
    per_fold = [numeric(r) for r in results]
    names = [k for k in per_fold[0] if all(k in r for r in per_fold)]
    summary: dict[str, float] = {}
    for name in names:
        values = [r[name] for r in per_fold]
        summary[name] = statistics.fmean(values)
        summary[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else math.nan
    return summary


def write_folds(path: Path, results: list[dict[str, Any]]) -> None:
    """One row per fold with every numeric metric it reported."""
    rows = [{"fold": i} | numeric(r) for i, r in enumerate(results)]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def print_summary(summary: Mapping[str, Any], folds: int, out: Path) -> None:
    """``metric | mean ± std`` for the split metrics (train/, val/, test/)."""
    table = Table(title=f"{folds}-fold cross-validation", header_style="bold")
    for column in ("metric", "mean", "std"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name in sorted(summary):
        if name.split("/")[0] in ("train", "val", "test") and not name.endswith("_std"):
            table.add_row(name, f"{summary[name]:.4f}", f"{summary[f'{name}_std']:.4f}")
    console = Console()
    console.print(table)
    console.print(f"run directory: [bold]{out}[/] (each fold in fold_<i>/, cv_folds.csv)")
