"""In-memory TensorLoader vs a standard per-sample Dataset + DataLoader on the same data.

Both iterate shuffled batches of the same tensors for whole epochs, in one process, alternating
several times; the median samples/s of each is printed with the ratio (target >= 3x). The
standard path is what a plain PyTorch script does: a ``Dataset`` whose ``__getitem__`` returns
one (x, y) pair, and ``DataLoader(shuffle=True)`` collating them (num_workers=0, as worker
processes would only add start-up cost for data already in memory).

    OMP_NUM_THREADS=1 python bench/dataloading.py                    # digits and MNIST-sized
    OMP_NUM_THREADS=1 python bench/dataloading.py --batch-size 128 --repeats 5
"""

import argparse
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from src.data.datamodule import InMemoryDataModule  # noqa: E402
from src.data.loader import TensorLoader  # noqa: E402
from src.data.sources import load_digits  # noqa: E402


class PairDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The usual map-style dataset over in-memory tensors."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def samples_per_second(loader: Iterable[tuple[torch.Tensor, torch.Tensor]], n: int) -> float:
    start = time.perf_counter()
    seen = 0
    for batch in loader:
        seen += len(batch["target"] if isinstance(batch, dict) else batch[1])
    assert seen == n, (seen, n)
    return n / (time.perf_counter() - start)


def compare(label: str, x: torch.Tensor, y: torch.Tensor, batch_size: int, repeats: int) -> None:
    tensor = TensorLoader({"x": x, "target": y}, batch_size, shuffle=True)
    standard = DataLoader(PairDataset(x, y), batch_size=batch_size, shuffle=True)
    fast: list[float] = []
    slow: list[float] = []
    for epoch in range(repeats + 1):  # the first epoch of each is warm-up
        tensor.sampler.set_epoch(epoch)
        f, s = samples_per_second(tensor, len(y)), samples_per_second(standard, len(y))
        if epoch:
            fast.append(f)
            slow.append(s)
    f, s = statistics.median(fast), statistics.median(slow)
    print(
        f"{label:<38} TensorLoader {f:>12,.0f} samples/s   Dataset+DataLoader {s:>10,.0f} "
        f"samples/s   ratio {f / s:6.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    dm = InMemoryDataModule(load_digits, [1, 8, 8], 10, "multiclass", 10, args.batch_size)
    dm.setup("fit")
    x, y = dm.splits["train"]["x"], dm.splits["train"]["target"]
    compare(f"digits train split {tuple(x.shape)}", x, y, args.batch_size, args.repeats)
    # MNIST-sized uint8 images, as the mnist/fashion_mnist data sets are held in memory
    x = torch.randint(0, 256, (60000, 1, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (60000,))
    compare("MNIST-sized uint8 (60000, 1, 28, 28)", x, y, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()
