"""Compression figures: each case trains with a ``compression`` member and reports the
before/after ratios (latency timed side by side in one process, median of repeated runs,
warm-up excluded, one thread), plus the dense baselines for the pruning cases (cnn_dense,
cnn_dense_30).

    python bench/compression.py [case ...] [override ...]   # cases: see CASES; default all

Arguments with ``=`` are Hydra overrides added to every case (e.g. ``seed=1``).
"""

import json
import sys
import tempfile
from pathlib import Path

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.experiments.train import train

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["hardware=cpu", "logger=none", "print_config=false", "++callbacks.progress_bar=null"]
CNN = ["trainer.max_epochs=10"]
MLP_WIDE = ["model=mlp", "model.net.hidden=[1024,1024]", "trainer.max_epochs=10"]
COMPILED = ["compression.transform.compiled=true"]  # eager and inductor-compiled, side by side
LSTM_WIDE = [
    "experiment=mnist1d_gru",
    "model=lstm",
    "model.net.hidden_size=256",  # 2 bidirectional layers (model=gru's default)
    "trainer.max_epochs=6",
]
CASES: dict[str, list[str]] = {
    "mlp_dynamic_eager": ["model=mlp", "trainer.max_epochs=20", "compression=quantize_dynamic"],
    "mlp_dynamic_torchao": [
        "model=mlp",
        "trainer.max_epochs=20",
        "compression=quantize_dynamic",
        "compression.backend=torchao",
    ],
    "lstm_dynamic_eager": [
        "experiment=mnist1d_gru",
        "model=lstm",
        "trainer.max_epochs=2",
        "compression=quantize_dynamic",
    ],
    # realistic sizes (issue 13's acceptance): a 1024-wide MLP on digits, a 256-wide LSTM
    "mlp1024_dynamic_eager": [*MLP_WIDE, "compression=quantize_dynamic"],
    "mlp2048_dynamic_eager": [
        "model=mlp",
        "model.net.hidden=[2048,2048]",
        "trainer.max_epochs=10",
        "compression=quantize_dynamic",
    ],
    "mlp1024_dynamic_torchao": [
        *MLP_WIDE,
        "compression=quantize_dynamic",
        "compression.backend=torchao",
    ],
    "lstm256_dynamic_eager": [*LSTM_WIDE, "compression=quantize_dynamic"],
    "lstm256_dynamic_torchao": [
        *LSTM_WIDE,
        "compression=quantize_dynamic",
        "compression.backend=torchao",
    ],
    "cnn_dense": [*CNN],
    # magnitude pruning: dense epochs, the ramp and fine-tuning in one run (10 are too few)
    "cnn_dense_30": ["trainer.max_epochs=30"],
    "cnn_prune_magnitude_80": [
        "trainer.max_epochs=30",
        "compression=prune_magnitude",
        "compression.sparsity=0.8",
    ],
    "cnn_prune_structured_50": [*CNN, "compression=prune_structured", "compression.ratio=0.5"],
    "cnn_quantize_static": [*CNN, "compression=quantize_static", *COMPILED],
    "cnn_qat": [*CNN, "compression=qat", *COMPILED, "compression.epochs=2"],
    "cnn_qat_5_epochs": [*CNN, "compression=qat", *COMPILED, "compression.epochs=5"],  # default
    "mlp1024_dynamic_torchao_compiled": [
        *MLP_WIDE,
        "compression=quantize_dynamic",
        "compression.backend=torchao",
        *COMPILED,
    ],
}
SHOWN = ("params_ratio", "nonzero_ratio", "size_bytes_ratio", "size_bytes_deflated_ratio")
SHOWN += ("latency_ms_b1_ratio",)
SHOWN += ("latency_ms_b64_ratio", "test/acc_change")
SHOWN += ("compiled_latency_ms_b1_ratio", "compiled_latency_ms_b64_ratio")
SHOWN += tuple(  # the absolute figures behind the ratios
    f"{side}/{key}"
    for side in ("before", "after", "before_compiled", "after_compiled")
    for key in ("size_bytes", "latency_ms_b1", "latency_ms_b64")
)
SHOWN += ("after/program_file_bytes",)


def run(name: str, overrides: list[str], root: Path) -> dict[str, float]:
    cfg = compose_config(
        [
            f"paths.log_dir={root / 'outputs'}",
            f"paths.data_dir={ROOT / 'data'}",
            *COMMON,
            *overrides,
        ],
        root / name,
    )
    metrics = train(cfg)
    keep = {k: v for k, v in metrics.items() if k.startswith(("compression/", "test/acc"))}
    program = root / name / "checkpoints" / "compressed.pt2"  # PT2E: the saved int8 graph
    if program.exists():
        keep["compression/after/program_file_bytes"] = program.stat().st_size
    return {k: float(v) for k, v in keep.items()}


def main() -> None:
    names = [a for a in sys.argv[1:] if "=" not in a] or list(CASES)
    extra = [a for a in sys.argv[1:] if "=" in a]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            figures = run(name, [*CASES[name], *extra], Path(tmp))
            shown = {
                k: round(figures[f"compression/{k}"], 3)
                for k in SHOWN
                if f"compression/{k}" in figures
            }
            shown["test/acc"] = round(figures["test/acc"], 4)
            for side in ("before", "after"):
                if f"compression/{side}/test/acc" in figures:
                    shown[f"{side}/test/acc"] = round(figures[f"compression/{side}/test/acc"], 4)
            print(f"RESULT {name} {' '.join(extra)} {json.dumps(shown)}", flush=True)


if __name__ == "__main__":
    main()
