"""Structured configs: the sweeper (``hydra/sweeper=optuna``), its samplers and pruners.

Samplers live in ``hydra/sweeper/sampler`` and pruners in ``hydra/sweeper/pruner``; pick one
with ``hydra/sweeper/sampler=cmaes`` on the command line or in a defaults list, and set its
arguments under ``hydra.sweeper.sampler.*``. Every one is built from its ``_target_``.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    n_startup_trials: int = 10
    # true models the joint distribution of the parameters (better with interacting params)
    multivariate: bool = False
    # true lets trials running in parallel avoid sampling the same point
    constant_liar: bool = False
    group: bool = False


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class GridSamplerConf:
    # the grid is every value of the choice(...)/range(...) params; intervals are refused
    _target_: str = "hydra_plugins.hydralit_optuna_sweeper._samplers.GridSampler"
    seed: int | None = None


@dataclass
class CmaEsSamplerConf:
    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: int | None = None
    n_startup_trials: int = 1
    sigma0: float | None = None
    restart_strategy: str | None = None


@dataclass
class GPSamplerConf:
    # Gaussian-process Bayesian optimisation; imports torch when the sweep starts
    _target_: str = "optuna.samplers.GPSampler"
    seed: int | None = None
    n_startup_trials: int = 10


@dataclass
class NSGAIISamplerConf:
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: int | None = None
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9


@dataclass
class NSGAIIISamplerConf:
    _target_: str = "optuna.samplers.NSGAIIISampler"
    seed: int | None = None
    population_size: int = 50


@dataclass
class QMCSamplerConf:
    _target_: str = "optuna.samplers.QMCSampler"
    seed: int | None = None
    qmc_type: str = "sobol"
    scramble: bool = True


@dataclass
class NopPrunerConf:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConf:
    _target_: str = "optuna.pruners.MedianPruner"
    # trials that finish before pruning starts, epochs before a trial may be pruned
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConf:
    _target_: str = "optuna.pruners.PercentilePruner"
    # prune below this percentile of earlier trials at the same epoch (25 = bottom quarter)
    percentile: float = 25.0
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConf:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0


@dataclass
class HyperbandPrunerConf:
    _target_: str = "optuna.pruners.HyperbandPruner"
    # epochs: the least a trial gets, and the most (set it to trainer.max_epochs)
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    # trials that must reach a cut before any goes on (> 0 needs an integer max_resource);
    # conf/hparams_search/digits_cnn_optuna.yaml uses the benchmarked reduction_factor 6, 1
    bootstrap_count: int = 0


@dataclass
class WilcoxonPrunerConf:
    # for objectives that are averages over steps; compares step-wise with the best trial
    _target_: str = "optuna.pruners.WilcoxonPruner"
    p_threshold: float = 0.1
    n_startup_steps: int = 2


@dataclass
class ThresholdPrunerConf:
    # prunes a trial whose metric leaves [lower, upper] (e.g. a diverged loss)
    _target_: str = "optuna.pruners.ThresholdPruner"
    lower: float | None = None
    upper: float | None = None
    n_warmup_steps: int = 0


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.hydralit_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    # sampler and pruner reach the sweeper as configs: it builds them (the grid needs the space)
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}])
    sampler: Any = MISSING
    pruner: Any = MISSING
    # the study's name in the storage; same name + same storage = the sweep resumes
    study_name: str | None = None
    # null: sqlite:///<sweep dir>/optuna.db. Any SQLAlchemy URL (postgresql://...), or
    # journal:///path/file.log (an append-only file for NFS clusters)
    storage: str | None = None
    # null: from the job config's optimized_mode (max -> maximize, min -> minimize; maximize
    # if the config has none). maximize | minimize, or a list of them, one per objective
    # (required with several objectives); one contradicting optimized_mode is an error
    direction: Any = None
    # null: the job's return value (optimized_metric); else metric names read from the job's
    # metrics.json, one per direction (e.g. [val/acc, model/params])
    objectives: list[str] | None = None
    # finished trials wanted in the study (across reruns and concurrent sweepers)
    n_trials: int = 20
    # trials per batch handed to the launcher at once
    n_jobs: int = 1
    # stop once more than max_failure_rate * n_trials trials have failed
    max_failure_rate: float = 0.25
    # key -> search space, e.g. optimizer.lr: tag(log, interval(1e-4, 1e-1))
    params: dict[str, str] = field(default_factory=dict)
    # "package.module.function(cfg, trial) -> dict of extra overrides", for conditional spaces
    custom_search_space: str | None = None
    # seconds between liveness marks of running trials; a RUNNING trial without one for
    # grace_period seconds belongs to a killed sweeper and is failed (and retried). A trial
    # whose sweeper ran on this machine and is gone is failed at once
    heartbeat_interval: int = 10
    grace_period: int = 60
    retry_stale: bool = True
    # true: check search space, config keys, sampler and pruner, then stop (no storage, no trial)
    dry_run: bool = False
    # write optimization_results.yaml, trials.csv and plots to the sweep dir
    plots: bool = True


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="hydralit")
    samplers = {
        "tpe": TPESamplerConf,
        "random": RandomSamplerConf,
        "grid": GridSamplerConf,
        "cmaes": CmaEsSamplerConf,
        "gp": GPSamplerConf,
        "nsgaii": NSGAIISamplerConf,
        "nsgaiii": NSGAIIISamplerConf,
        "qmc": QMCSamplerConf,
    }
    for name, node in samplers.items():
        cs.store(group="hydra/sweeper/sampler", name=name, node=node, provider="hydralit")
    pruners = {
        "none": NopPrunerConf,
        "median": MedianPrunerConf,
        "percentile": PercentilePrunerConf,
        "successive_halving": SuccessiveHalvingPrunerConf,
        "hyperband": HyperbandPrunerConf,
        "wilcoxon": WilcoxonPrunerConf,
        "threshold": ThresholdPrunerConf,
    }
    for name, node in pruners.items():
        cs.store(group="hydra/sweeper/pruner", name=name, node=node, provider="hydralit")


register()
