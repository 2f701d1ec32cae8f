"""Small real data sets written as your own data would be: CSV files and a folder of PNGs.

``python -m src.data.examples <name> <where>``, with name one of

- ``wine``: scikit-learn's wine recognition table (178 rows, 13 numeric columns, a text
  ``class`` column of 3 cultivars), for ``experiment=csv_classification``;
- ``diabetes``: scikit-learn's diabetes table in its original units (442 rows, 10 columns,
  the ``progression`` target, a disease measure from 25 to 346), for ``experiment=csv_regression``;
- ``digits``: scikit-learn's 8x8 digits as grayscale PNG files in one folder per digit
  (1,797 images), for ``experiment=image_folder_cnn``.

Nothing is downloaded: the three ship with scikit-learn.
"""

import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np


def write_wine(path: Path) -> None:
    from sklearn.datasets import load_wine

    data = load_wine()
    names = [str(data.target_names[t]) for t in data.target]
    _write_csv(path, [*data.feature_names, "class"], data.data.tolist(), names)


def write_diabetes(path: Path) -> None:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False)
    _write_csv(path, [*data.feature_names, "progression"], data.data.tolist(), data.target)


def _write_csv(path: Path, header: list[str], rows: list[list[float]], target: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row, y in zip(rows, target, strict=True):
            writer.writerow([f"{v:g}" for v in row] + [y if isinstance(y, str) else f"{y:g}"])


def write_digits(folder: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.round(data.images * (255 / 16)).astype(np.uint8)  # 0..16 -> 0..255
    for i, (image, label) in enumerate(zip(pixels, data.target, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / str(label) / f"{i:04d}.png")


WRITERS = {"wine": write_wine, "diabetes": write_diabetes, "digits": write_digits}


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in WRITERS:
        sys.exit(f"usage: python -m src.data.examples {{{','.join(WRITERS)}}} <file or folder>")
    WRITERS[argv[0]](Path(argv[1]))
    print(f"wrote {argv[1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
