"""Compare finished runs or sweeps.

    python run.py mode=compare compare.runs='outputs/<name>/multirun/<time>'

Reads each run's ``metrics.json`` (final metrics), ``.hydra/overrides.yaml`` (what was changed),
``provenance.json`` (the fields that differ between runs, e.g. commit or data fingerprint, are
shown beside the params) and ``csv/metrics.csv`` (per-epoch values), then writes into this run's
directory: ``comparison.md`` and the console table (one row per run, best first,
``compare.metrics``), ``comparison.csv`` (the same rows with every metric),
``comparison_curves.png`` (learning curves overlaid) and ``comparison_scatter.png`` (the sort
metric against each varying param). Needs no torch, network or W&B account.
"""

import csv
import glob
import logging
import math
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from src.errors import ConfigError, UserError
from src.utils.run_average import average_over
from src.utils.runs import Run, load_run

log = logging.getLogger(__name__)


def compare(cfg: DictConfig) -> dict[str, Any]:
    """Table and plots of the runs matched by ``compare.runs``, best ``compare.sort_by`` first."""
    c, out = cfg.compare, Path(cfg.paths.output_dir)
    runs = [load_run(p) for p in find_runs(str(c.runs), bool(c.skip_unfinished))]
    _label(runs)
    runs = average_over(runs, list(c.get("average_over") or []))
    sort_by = _check_sort_metric(runs, c.sort_by)
    descending = _descending(sort_by, str(c.mode), cfg)
    runs = sort_runs(runs, sort_by, descending)
    params = list(c.params) or varying_params(runs)
    metrics = list(c.metrics) or default_metrics(runs, sort_by)
    if c.get("average_over"):  # each mean beside its standard deviation
        metrics = [*(x for m in metrics for x in (m, f"{m} std")), "runs"]
    missing = [m for m in metrics if not any(m in r.metrics for r in runs)]
    if missing:
        raise ConfigError("compare.metrics", missing, "metrics present in the runs' metrics.json")
    fields = varying_provenance(runs)  # e.g. two commits or data fingerprints
    header, rows = table(runs, params, metrics, fields)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "comparison.csv", *table(runs, params, all_metrics(runs, sort_by), fields))
    write_markdown(out / "comparison.md", header, rows)
    from src.utils import compare_plots  # matplotlib only when there is something to draw

    compare_plots.curves(runs, list(c.curves), params, out / "comparison_curves.png")
    compare_plots.scatter(runs, params, sort_by, out / "comparison_scatter.png")
    order = "highest" if descending else "lowest"
    print_table(f"{len(runs)} runs, {order} {sort_by} first", header, rows, out)
    best = runs[0]
    return {
        "compared_runs": len(runs),
        "best_run": str(best.path),
        f"best/{sort_by}": best.metrics.get(sort_by),
        "run_dir": str(out),
    }


def _is_run(path: Path) -> bool:
    # train/eval write config_resolved.yaml before any work, metrics.json at the very end
    return (path / "metrics.json").is_file() or (path / "config_resolved.yaml").is_file()


def _expand(match: Path) -> list[Path]:
    """A match is a run, a metrics.json file, or a folder (a sweep) whose children are runs."""
    if match.is_file():
        return [match.parent] if match.name == "metrics.json" else []
    if _is_run(match):
        return [match]
    if match.is_dir():
        return sorted((p for p in match.iterdir() if p.is_dir() and _is_run(p)), key=_natural)
    return []


def _natural(path: Path) -> tuple[int, str]:
    # multirun job folders are 0, 1, ..., 10: sort them as numbers
    return (int(path.name), "") if path.name.isdigit() else (1 << 30, path.name)


def find_runs(pattern: str, skip_unfinished: bool = False) -> list[Path]:
    """Run directories matched by the glob ``pattern``; errors say what was matched instead."""
    matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
    if not matches:
        raise ConfigError(
            "compare.runs",
            pattern,
            "a glob matching run directories, sweep directories or metrics.json files",
            "e.g. compare.runs='outputs/<name>/multirun/<time>' (quote it in the shell)",
        )
    found = list(dict.fromkeys(p for m in matches for p in _expand(Path(m))))
    unfinished = [p for p in found if not (p / "metrics.json").is_file()]
    if unfinished and not skip_unfinished:
        raise UserError(
            f"{unfinished[0]}: run directory without metrics.json (the run failed or is still "
            f"running; see its run.log). Fix: narrow compare.runs, or set "
            f"compare.skip_unfinished=true to leave out {len(unfinished)} such run(s)."
        )
    finished = [p for p in found if p not in unfinished]
    if not finished:
        raise UserError(
            f"compare.runs={pattern!r} matched {len(matches)} path(s) but no finished run "
            f"(a folder with metrics.json), e.g. {matches[0]}. Fix: point it at run or sweep "
            f"directories such as outputs/<name>/multirun/<time>."
        )
    for p in unfinished:
        log.warning("left out %s: no metrics.json", p)
    return finished


def _label(runs: list[Run]) -> None:
    """Short run names: paths relative to the runs' common folder."""
    if len(runs) == 1:
        runs[0].label = runs[0].path.name
        return
    root = Path(os.path.commonpath([r.path.resolve() for r in runs]))
    for r in runs:
        r.label = str(r.path.resolve().relative_to(root))


def _check_sort_metric(runs: list[Run], sort_by: str | None) -> str:
    available = sorted({k for r in runs for k in r.metrics})
    if sort_by not in available:
        raise ConfigError(
            "compare.sort_by",
            sort_by,
            "a metric in the runs' metrics.json: " + ", ".join(available),
            "e.g. compare.sort_by=val/loss",
        )
    return str(sort_by)


def _descending(metric: str, mode: str, cfg: DictConfig) -> bool:
    """Higher first? ``auto``: the objective's own direction, else min for losses, else max."""
    if mode not in ("auto", "max", "min"):
        raise ConfigError("compare.mode", mode, "one of auto, max, min")
    if mode == "auto" and metric == cfg.get("optimized_metric"):
        mode = str(cfg.get("optimized_mode", "max"))
    return mode == "max" or (mode == "auto" and "loss" not in metric)


def sort_runs(runs: list[Run], metric: str, descending: bool) -> list[Run]:
    """Best first; runs without ``metric`` (or NaN) last."""

    def key(r: Run) -> tuple[bool, float]:
        v = r.metrics.get(metric, math.nan)
        return (math.isnan(v), -v if descending else v)

    return sorted(runs, key=key)


def varying_params(runs: list[Run]) -> list[str]:
    """Overridden keys whose value differs between runs (all of them for a single run)."""
    keys = list(dict.fromkeys(k for r in runs for k in r.params))
    if len(runs) == 1:
        return keys
    return [k for k in keys if len({r.params.get(k) for r in runs}) > 1]


def varying_provenance(runs: list[Run]) -> list[str]:
    """Provenance fields (commit, library versions, machine, data digests) that differ between
    runs; none for a single run."""
    if len(runs) == 1:
        return []
    keys = list(dict.fromkeys(k for r in runs for k in r.provenance))
    return [k for k in keys if len({r.provenance.get(k) for r in runs}) > 1]


def default_metrics(runs: list[Run], sort_by: str) -> list[str]:
    """``sort_by`` (and its spread over the folds of cross-validated runs, ``<sort_by>_std``),
    then loss and the sort metric's kind (acc, ...) of val and test."""
    kind = sort_by.split("/", 1)[-1]
    splits = [f"{split}/{name}" for split in ("val", "test") for name in (kind, "loss")]
    wanted = [sort_by, f"{sort_by}_std", *splits]
    present = {k for r in runs for k in r.metrics}
    return [m for m in dict.fromkeys(wanted) if m in present]


def all_metrics(runs: list[Run], sort_by: str) -> list[str]:
    """Every numeric entry of the runs' metrics.json, ``sort_by`` first (the CSV's columns)."""
    return [sort_by, *sorted({k for r in runs for k in r.metrics} - {sort_by})]


def table(
    runs: list[Run], params: list[str], metrics: list[str], fields: list[str] | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: rank, run, params, provenance fields, metrics; a missing value is an
    empty cell."""
    fields = fields or []
    header = ["rank", "run", *params, *fields, *metrics]
    rows = [
        [
            i + 1,
            r.label,
            *(r.params.get(p, "") for p in params),
            *(r.provenance.get(f, "") for f in fields),
            *(r.metrics.get(m) for m in metrics),
        ]
        for i, r in enumerate(runs)
    ]
    return header, rows


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])


def write_markdown(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    path.write_text("\n".join(lines) + "\n")


def print_table(title: str, header: list[str], rows: list[list[Any]], out: Path) -> None:
    t = Table(title=title, header_style="bold")
    for name in header:
        t.add_column(name, justify="left" if name == "run" else "right", overflow="fold")
    for row in rows:
        t.add_row(*(_fmt(v) for v in row))
    console = Console()
    console.print(t)
    console.print(
        f"comparison written to [bold]{out}[/] (comparison.csv, .md, *_curves/_scatter.png)"
    )
