"""What a sweep leaves in its directory: optimization_results.yaml, trials.csv, PNG plots."""

import csv
import logging
import shlex
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudySettings:
    """What the summary says about the study besides its trials."""

    study_name: str
    storage: str
    directions: list[str]
    objectives: list[str]
    n_trials: int
    plots: bool


def write(
    study: optuna.Study,
    trials: list[FrozenTrial],
    out: Path,
    settings: StudySettings,
    arguments: list[str],
) -> None:
    """Write the result files of the counted ``trials`` to ``out`` and print the summary."""
    out.mkdir(parents=True, exist_ok=True)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    summary = _summary(study, settings, trials, done, arguments)
    summary["storage"] = portable_storage(settings.storage, out)
    OmegaConf.save(OmegaConf.create(summary), out / "optimization_results.yaml")
    write_csv(study.get_trials(deepcopy=False), out / "trials.csv")
    if settings.plots and done:
        write_plots(study, out)
    _print(summary, out)


def best_trials(study: optuna.Study, done: list[FrozenTrial]) -> list[FrozenTrial]:
    if not done:
        return []
    return [study.best_trial] if len(study.directions) == 1 else list(study.best_trials)


def _summary(
    study: optuna.Study,
    settings: StudySettings,
    trials: list[FrozenTrial],
    done: list[FrozenTrial],
    arguments: list[str],
) -> dict[str, Any]:
    states = Counter(t.state.name for t in trials)
    best = [
        {
            "number": t.number,
            "values": list(t.values),
            "params": dict(t.params),
            "command": reproduce(t.user_attrs.get("overrides", [])),
        }
        for t in best_trials(study, done)
    ]
    summary: dict[str, Any] = {
        "study_name": settings.study_name,
        "storage": settings.storage,
        "directions": list(settings.directions),
        "objectives": list(settings.objectives),
        "n_trials": settings.n_trials,
        "trials_by_state": dict(states),
        "arguments": list(arguments),
    }
    if len(settings.directions) == 1:
        summary["best_value"] = best[0]["values"][0] if best else None  # type: ignore[index]
        summary["best_params"] = best[0]["params"] if best else None
        summary["best_trial"] = best[0] if best else None
    else:
        summary["pareto_front"] = best
    return summary


def portable_storage(url: str, sweep_dir: Path) -> str:
    """A SQLite URL of a file inside the sweep directory names it relative to that directory
    (``sqlite:///optuna.db``), so a moved or copied sweep directory's results still name its
    own file; other URLs are kept."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    file, folder = Path(url[len(prefix) :]).resolve(), sweep_dir.resolve()
    return prefix + file.relative_to(folder).as_posix() if folder in file.parents else url


def reproduce(overrides: list[str]) -> str:
    """The single-run command that trains a trial's configuration again."""
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "run.py"
    return " ".join(["python", script, *(shlex.quote(o) for o in overrides)])


def write_csv(trials: list[FrozenTrial], path: Path) -> None:
    """One row per trial: number, state, values, params, duration, reasons and attributes."""
    params = sorted({k for t in trials for k in t.params})
    attrs = sorted({k for t in trials for k in t.user_attrs if k != "overrides"})
    n_values = max((len(t.values or []) for t in trials), default=1)
    header = [
        "number",
        "state",
        *[f"value_{i}" for i in range(n_values)],
        *[f"params_{p}" for p in params],
        "duration_s",
        "last_step",
        *attrs,
    ]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for t in trials:
            values = list(t.values or [])
            values += [""] * (n_values - len(values))
            duration = t.duration.total_seconds() if t.duration else ""
            w.writerow(
                [
                    t.number,
                    t.state.name,
                    *values,
                    *[t.params.get(p, "") for p in params],
                    duration,
                    t.last_step if t.last_step is not None else "",
                    *[t.user_attrs.get(a, "") for a in attrs],
                ]
            )


def write_plots(study: optuna.Study, out: Path) -> list[Path]:
    """History, parameter importances and parallel coordinates (Pareto front if multi-objective).

    A plot Optuna cannot draw (importances need two finished trials with varied params) is
    skipped with a logged reason; the sweep's results do not depend on it.
    """
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    # the matplotlib backend is flagged experimental on every call; say it once, not per plot
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ov

    target = (lambda t: t.values[0]) if len(study.directions) > 1 else None
    name = "objective 0" if target else None
    plots: dict[str, Any] = {
        "optimization_history": lambda: ov.plot_optimization_history(
            study, target=target, target_name=name or "Objective Value"
        ),
        "param_importances": lambda: ov.plot_param_importances(study, target=target),
        "parallel_coordinate": lambda: ov.plot_parallel_coordinate(study, target=target),
    }
    if len(study.directions) > 1:
        plots["pareto_front"] = lambda: ov.plot_pareto_front(study)
    written = []
    for stem, draw in plots.items():
        try:
            ax = draw()
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            log.warning("plot %s skipped: %s", stem, e)
            continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.tight_layout()
        fig.savefig(out / f"{stem}.png", dpi=100)
        plt.close(fig)
        written.append(out / f"{stem}.png")
    return written


def _print(summary: dict[str, Any], out: Path) -> None:
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary["trials_by_state"].items()))
    lines = [f"Optuna study '{summary['study_name']}': {states} (of {summary['n_trials']} wanted)"]
    if summary.get("best_trial"):
        b = summary["best_trial"]
        lines += [
            f"  best trial #{b['number']}: {summary['objectives'][0]} = {b['values'][0]:.6g}",
            f"  params: {b['params']}",
            f"  reproduce: {b['command']}",
        ]
    for b in summary.get("pareto_front") or []:
        lines.append(f"  pareto #{b['number']}: values {b['values']}  reproduce: {b['command']}")
    lines.append(f"  results: {out / 'optimization_results.yaml'}, trials.csv, *.png")
    log.info("\n".join(lines))
