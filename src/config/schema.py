"""Structured config: the types of the top-level keys and the trainer block.

Registered in Hydra's ConfigStore as ``schema`` and listed first in ``conf/config.yaml``'s
defaults, so a typo'd key or a value of the wrong type fails while the config is composed,
before anything heavy is imported. Value ranges are checked in :mod:`src.config.validate`.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

import src.data.interaction_resolvers  # the ${interactions.*} resolvers of conf/dataset
import src.data.resolvers  # the ${csv.*} and ${image_folder.*} resolvers of conf/dataset
import src.hardware.resolvers  # noqa: F401  the ${hw.*} resolvers of conf/hardware


@dataclass
class ModeSchema:
    """What a run does (``conf/mode/<name>.yaml``): the entry function and its needs."""

    name: str = MISSING
    entry: str = MISSING  # import path of a function (config) -> dict of final metrics
    needs_checkpoint: bool = False


@dataclass
class TrainerSchema:
    _target_: str = "lightning.pytorch.Trainer"
    default_root_dir: str = MISSING
    max_epochs: int = 30
    min_epochs: int = 1
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 10
    num_sanity_val_steps: int = 0
    accelerator: str = "cpu"
    devices: Any = 1
    num_nodes: int = 1
    strategy: Any = "auto"
    precision: Any = "32-true"
    deterministic: Any = False
    benchmark: bool = False
    sync_batchnorm: bool = False
    limit_train_batches: Any = 1.0  # float = fraction, int = number of batches
    limit_val_batches: Any = 1.0  # float = fraction, int = number of batches
    limit_test_batches: Any = 1.0  # float = fraction, int = number of batches
    overfit_batches: Any = 0.0
    fast_dev_run: Any = False
    profiler: str | None = None
    plugins: Any = None  # list of Lightning plugin nodes


@dataclass
class PredictSchema:
    split: str = "test"
    output_file: str = "predictions.csv"


@dataclass
class ExportSchema:
    formats: list[str] = field(default_factory=lambda: ["onnx"])
    dir: str = "export"
    samples: int = 256
    tolerance: float = 1e-4
    opset: int | None = None


@dataclass
class ServeSchema:
    artefact: str = MISSING
    backend: str = "onnx"
    host: str = "127.0.0.1"
    port: int = 8000
    max_samples: int = 256
    max_body_mb: float = 8.0
    max_batch_size: int = 64
    max_wait_ms: float = 0.0
    max_concurrency: int = 256


@dataclass
class SampleSchema:
    num: int = 64
    classes: list[int] | None = None
    output_dir: str = "samples"


@dataclass
class CompareSchema:
    runs: str = "${paths.log_dir}/**/multirun/*"
    sort_by: str | None = "${optimized_metric}"
    mode: str = "auto"
    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    curves: list[str] = field(default_factory=lambda: ["val/loss", "${optimized_metric}"])
    skip_unfinished: bool = False
    average_over: list[str] = field(default_factory=list)


@dataclass
class CVSchema:
    folds: int | None = None
    fold: int | None = None


@dataclass
class ReproduceSchema:
    run: str = MISSING


@dataclass
class AttackSchema:
    epsilons: list[float] = MISSING
    methods: list[str] = field(default_factory=lambda: ["fgsm", "pgd"])
    steps: int = 20
    step_size: float | None = None
    random_start: bool = True
    split: str = "test"
    samples: int | None = None
    input: str = "x"
    input_range: list[float] | None = None
    output_file: str = "robustness.json"


@dataclass
class ExplainSchema:
    methods: list[str] | None = None
    samples: int = 8
    split: str = "test"
    input: str | None = None
    target: str = "predicted"
    layer: str | None = None
    ig_steps: int = 32
    window: int = 2
    top_k: int = 10
    faithfulness_samples: int = 256
    feature_names: list[str] | None = None
    output_dir: str = "explanations"


@dataclass
class Config:
    dataset: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    compression: Any = MISSING
    hardware: Any = MISSING
    logger: Any = field(default_factory=dict)
    callbacks: Any = field(default_factory=dict)
    paths: Any = MISSING
    trainer: TrainerSchema = field(default_factory=TrainerSchema)
    mode: ModeSchema = field(default_factory=ModeSchema)
    # options of mode=predict, compare, export, serve, reproduce and sample, set by their
    # conf/mode/ files; mode=generate's are checked by src/config/validate.py
    predict: PredictSchema | None = None
    compare: CompareSchema | None = None
    export: ExportSchema | None = None
    serve: ServeSchema | None = None
    reproduce: ReproduceSchema | None = None
    sample: SampleSchema | None = None
    generate: Any = None
    attack: AttackSchema | None = None  # mode=attack
    explain: ExplainSchema | None = None  # mode=explain
    federated: Any = None  # mode=federated's options (conf/mode/federated.yaml)
    name: str = MISSING
    seed: int = 42
    tags: list[str] = field(default_factory=list)
    ckpt_path: str | None = None
    resume: str | None = None
    optimized_metric: str | None = "val/acc"
    optimized_mode: str = "max"
    test: bool = True
    print_config: bool = True
    cv: CVSchema = field(default_factory=CVSchema)
    # DP-SGD (conf/privacy/dp.yaml: a src.callbacks.privacy.DPSGD node); null: not private
    privacy: Any = None
    # set by the Optuna sweeper for its jobs (study, storage, trial, monitor, prune); null otherwise
    optuna: Any = None


def chosen(group: str, *, _root_: DictConfig) -> str:
    """``${chosen:dataset}``: the member picked for a config group (e.g. ``digits``).

    Reads the composed ``hydra`` node while it is still part of the config (when a sweeper
    resolves its sweep dir) and Hydra's runtime config inside a job, where that node is gone.
    """
    if "hydra" in _root_:
        choices = _root_.hydra.runtime.choices
    else:
        from hydra.core.hydra_config import HydraConfig

        choices = HydraConfig.get().runtime.choices
    return str(choices.get(group))


def register() -> None:
    ConfigStore.instance().store(name="schema", node=Config)
    if not OmegaConf.has_resolver("chosen"):
        OmegaConf.register_new_resolver("chosen", chosen)


register()
