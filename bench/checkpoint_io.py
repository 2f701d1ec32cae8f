"""How long a checkpoint save stalls training: Lightning's default writer vs the background one.

Both save the same Lightning-style checkpoint (model and Adam state) of each network,
alternating, through the checkpoint IO plugin the trainer uses: ``TorchCheckpointIO`` (what
``trainer.plugins=[]`` gives) and ``src.utils.checkpoint_io.BackgroundCheckpointIO`` (the
default). The stall is the time ``save_checkpoint`` blocks the calling (training) thread; for the
background writer, the time until the file is on disk is printed too.

    OMP_NUM_THREADS=1 python bench/checkpoint_io.py --repeats 5
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.networks.cnn import LeNet
from src.networks.resnet import resnet18
from src.utils.checkpoint_io import BackgroundCheckpointIO


def checkpoint(net: torch.nn.Module) -> dict[str, Any]:
    """A checkpoint like Lightning's: weights and a stepped Adam's state."""
    optimizer = torch.optim.Adam(net.parameters())
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return {"state_dict": net.state_dict(), "optimizer_states": [optimizer.state_dict()]}


def stalls(ckpt: dict[str, Any], out: Path, repeats: int) -> tuple[float, float, float]:
    """Median seconds: default writer's stall, background stall, background time to disk."""
    sync, background, on_disk = [], [], []
    for i in range(repeats):
        start = time.perf_counter()
        TorchCheckpointIO().save_checkpoint(ckpt, out / f"sync{i}.ckpt")
        sync.append(time.perf_counter() - start)

        writer = BackgroundCheckpointIO(TorchCheckpointIO())
        start = time.perf_counter()
        writer.save_checkpoint(ckpt, out / f"background{i}.ckpt")
        background.append(time.perf_counter() - start)
        writer.wait()
        on_disk.append(time.perf_counter() - start)
        writer.teardown()
    return statistics.median(sync), statistics.median(background), statistics.median(on_disk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    nets = {
        "digits CNN (LeNet, 0.1 M params)": LeNet([1, 8, 8], 10, [32, 64], 128, 0.25, True),
        "ResNet-18 (11 M params)": resnet18([3, 32, 32], 10),
    }
    print(f"torch {torch.__version__}; median of {args.repeats} saves each, milliseconds")
    print(f"{'network':36s} {'default':>8s} {'background':>11s} {'ratio':>6s} {'on disk':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, net in nets.items():
            sync, bg, disk = stalls(checkpoint(net), Path(tmp), args.repeats)
            print(
                f"{name:36s} {sync * 1e3:8.1f} {bg * 1e3:11.1f} {bg / sync:5.2f}x {disk * 1e3:8.1f}"
            )


if __name__ == "__main__":
    main()
