"""GAN acceptance on digits (issue 12): FID of a trained GAN's EMA generator against an
untrained generator's and against the real-train-vs-real-test floor, and, when conditional,
how often the digits classifier reads the requested class.

Usage (from the repository root):
    python bench/gan_digits.py --classifier <digits classifier .ckpt> --gan <GAN .ckpt> \
        [--model gan|gan_conditional] [the run's other overrides, e.g. model.loss=hinge]

Both GANs are validated by ``trainer.validate`` on the same split with the same classifier:
``val/fid`` (generated vs the training split, as many images as the validation split has),
``val/fid_floor`` (the real test split vs the training split). Prints one line per figure.
"""

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning.pytorch as pl  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

import src.config.schema  # noqa: E402, F401  registers the structured config
from src.config.compose import compose_config  # noqa: E402
from src.experiments import build  # noqa: E402


def validate(cfg: DictConfig, ckpt: str | None) -> dict[str, float]:
    pl.seed_everything(cfg.seed)
    datamodule, module = build.datamodule(cfg), build.module(cfg)
    trainer = build.trainer(cfg, [], [])
    trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classifier", required=True)
    parser.add_argument("--gan", required=True)
    parser.add_argument("--model", default="gan")
    parser.add_argument("overrides", nargs="*", help="the GAN run's other overrides")
    args = parser.parse_args()
    overrides = [
        "experiment=digits_gan",
        f"model={args.model}",
        f"model.fid_classifier={args.classifier}",
        "hardware=cpu",
        "logger=none",
        "callbacks=none",
        "print_config=false",
        *args.overrides,
    ]
    cfg = compose_config(overrides, Path(tempfile.mkdtemp()))
    untrained = validate(cfg, None)
    trained = validate(cfg, args.gan)
    floor = trained["val/fid_floor"]
    print(f"floor  FID real test vs real train      {floor:8.3f}")
    print(f"untrained generator FID                 {untrained['val/fid']:8.3f}")
    print(f"trained EMA generator FID               {trained['val/fid']:8.3f}")
    print(f"  / untrained: {trained['val/fid'] / untrained['val/fid']:.4f} (<= 0.10 to pass)")
    print(f"  / floor:     {trained['val/fid'] / floor:.3f} (<= 3 to pass)")
    print(f"KID trained {trained['val/kid']:.4f}, untrained {untrained['val/kid']:.4f}")
    if "val/class_acc" in trained:
        acc, chance = trained["val/class_acc"], untrained["val/class_acc"]
        print(f"samples classified as requested: {acc:.4f} (untrained {chance:.4f}; >= 0.90)")


if __name__ == "__main__":
    main()
