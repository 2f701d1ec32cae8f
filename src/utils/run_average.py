"""Runs that differ only in some params (e.g. the seed) averaged into one row for ``compare``."""

import statistics
from collections.abc import Sequence

from src.utils.runs import Run


def average_over(runs: list[Run], keys: Sequence[str]) -> list[Run]:
    """One run per group of ``runs`` whose params agree except for ``keys``: its metrics are the
    group's means, with ``<metric> std`` (sample standard deviation; 0 for one run) and ``runs``
    (the group's size); its curves are the per-epoch means. No ``keys``: ``runs`` unchanged."""
    if not keys:
        return runs
    groups: dict[tuple[tuple[str, str], ...], list[Run]] = {}
    for r in runs:
        key = tuple(sorted((k, v) for k, v in r.params.items() if k not in keys))
        groups.setdefault(key, []).append(r)
    return [_mean_run(members, keys) for members in groups.values()]


def _mean_run(members: list[Run], keys: Sequence[str]) -> Run:
    metrics: dict[str, float] = {}
    for name in dict.fromkeys(m for r in members for m in r.metrics):
        values = [r.metrics[name] for r in members if name in r.metrics]
        metrics[name] = statistics.fmean(values)
        metrics[f"{name} std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    metrics["runs"] = float(len(members))
    by_epoch: dict[float, list[dict[str, float]]] = {}
    for r in members:
        for row in r.curves:
            by_epoch.setdefault(row.get("epoch", 0.0), []).append(row)
    curves = [
        {k: statistics.fmean(row[k] for row in rows if k in row) for k in rows[0]}
        for _, rows in sorted(by_epoch.items())
    ]
    first = members[0]
    params = {k: v for k, v in first.params.items() if k not in keys}
    label = "+".join(r.label for r in members)
    return Run(first.path, params, metrics, curves, label, first.provenance)
