"""Audio acceptance (issue 12): test accuracy on spoken-digit voices held out from training.

Usage (from the repository root):
    python bench/audio.py [--experiments spoken_digits_cnn,spoken_digits_gru] [overrides ...]

Synthesises the default ``dataset=spoken_digits`` set with eSpeak NG (timed; cached under
``paths.data_dir``), prints its size and voices, then trains each experiment with its default
config (plus the overrides) and prints the test split's accuracy: clips of the
``test_variants`` voices, never heard in training.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra.utils import instantiate  # noqa: E402

import src.config.schema  # noqa: E402, F401  registers the structured config
from src.config.compose import compose_config  # noqa: E402
from src.experiments.train import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # comma-separated: a list option would swallow the overrides that follow it
    parser.add_argument("--experiments", default="spoken_digits_cnn")
    parser.add_argument("overrides", nargs="*", help="overrides of every run")
    args = parser.parse_args()
    base = ["hardware=cpu", "logger=csv", "print_config=false", *args.overrides]
    base.append(f"paths.log_dir={tempfile.mkdtemp(prefix='bench_audio_')}")
    for experiment in args.experiments.split(","):
        cfg = compose_config([f"experiment={experiment}", *base], Path(tempfile.mkdtemp()))
        source = instantiate(cfg.dataset.source)
        start = time.perf_counter()
        data = source()
        print(
            f"data: {len(data.y)} train+val clips, {len(data.y_test)} test clips, "
            f"loaded in {time.perf_counter() - start:.1f} s ({source.cache_file})"
        )
        voices = cfg.dataset.source
        print(f"train voices: {list(voices.variants)} x {list(voices.accents)}")
        print(f"test voices:  {list(voices.test_variants)} (never in training)")
        start = time.perf_counter()
        metrics = train(cfg)
        minutes = (time.perf_counter() - start) / 60
        print(
            f"{experiment}: test/acc {metrics['test/acc']:.4f}  val/acc {metrics['val/acc']:.4f}"
            f"  epochs {metrics['epochs']}  {minutes:.1f} min"
        )


if __name__ == "__main__":
    main()
