"""Small stand-ins for the MNIST idx files and CIFAR-10 python batches, in the real formats."""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

from src.data.vision_files import IDX_FILES


def images(n: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose mean brightness encodes the class, so a network can learn them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = rng.integers(0, 60, (n, *shape)) + (y * 19).reshape(-1, *[1] * len(shape))
    return x.astype(np.uint8), y.astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if gz:
        Path(f"{path}.gz").write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def write_mnist(
    root: Path, name: str = "MNIST", n_train: int = 200, n_test: int = 50, gz: bool = False
) -> tuple[np.ndarray, ...]:
    """Writes ``root/<name>/raw/{train,t10k}-{images,labels}-idx*-ubyte[.gz]``."""
    folder = root / name / "raw"
    folder.mkdir(parents=True)
    arrays = (*images(n_train, (28, 28), 0), *images(n_test, (28, 28), 1))
    for filename, array in zip(IDX_FILES, arrays, strict=True):
        write_idx(folder / filename, array, gz)
    return arrays


def write_cifar10(root: Path, per_batch: int = 40, n_test: int = 50) -> tuple[np.ndarray, ...]:
    """Writes ``root/cifar-10-batches-py/`` with five train batches, a test batch and meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    xs, ys = images(5 * per_batch, (3, 32, 32), 0)
    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        batch = {b"data": xs[part].reshape(per_batch, -1), b"labels": ys[part].tolist()}
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch))
    x_test, y_test = images(n_test, (3, 32, 32), 1)
    test = {b"data": x_test.reshape(n_test, -1), b"labels": y_test.tolist()}
    (folder / "test_batch").write_bytes(pickle.dumps(test))
    names = [c.encode() for c in ("airplane", "automobile", "bird", "cat", "deer", "dog")]
    names += [c.encode() for c in ("frog", "horse", "ship", "truck")]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    return xs, ys, x_test, y_test


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """A CSV file with ``header`` and ``rows`` (None cells are written empty)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([["" if c is None else c for c in row] for row in rows])
    return path


COLORS = ("red", "green", "blue")


def classification_rows(n: int = 300, seed: int = 0) -> tuple[list[str], list[list[object]]]:
    """Columns ``size`` (numeric, ~8 % missing), ``weight`` (numeric), ``color`` (text, ~5 %
    missing) and ``label`` (small / medium / large), learnable from size and color."""
    rng = np.random.default_rng(seed)
    rows: list[list[object]] = []
    for i in range(n):
        size, weight = rng.normal(0, 1, 2)
        color = COLORS[rng.integers(3)]
        score = size + (0.8 if color == "red" else 0.0)
        label = "small" if score < -0.4 else "medium" if score < 0.6 else "large"
        rows.append(
            [
                None if i % 13 == 5 else round(float(size), 4),
                round(float(weight), 4),
                None if i % 20 == 7 else color,
                label,
            ]
        )
    return ["size", "weight", "color", "label"], rows


def regression_rows(n: int = 600, seed: int = 0) -> tuple[list[str], list[list[object]]]:
    """Columns ``a``, ``b``, ``c`` (numeric), ``kind`` (text) and ``price``, a smooth function of
    them in the hundreds (so that a model must rescale it) plus noise of 2 % of its spread."""
    rng = np.random.default_rng(seed)
    effect = {"x": -1.0, "y": 0.0, "z": 1.5}
    rows: list[list[object]] = []
    for _ in range(n):
        a, b, c = rng.normal(0, 1, 3)
        kind = "xyz"[rng.integers(3)]
        price = 500 + 100 * (2 * a - b + 0.5 * c**2 + effect[kind]) + rng.normal(0, 5)
        rows.append([round(float(v), 4) for v in (a, b, c)] + [kind, round(float(price), 3)])
    return ["a", "b", "c", "kind", "price"], rows


def write_image_folder(
    root: Path,
    per_class: dict[str, int],
    mode: str = "L",
    size: tuple[int, int] = (10, 12),
    seed: int = 0,
) -> Path:
    """PNG files ``root/<class>/<i>.png`` of size (W, H) = ``size``; class k's images have
    mean brightness 40 + 60 k (in its k-th channel for RGB), so a network can learn them."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = 1 if mode == "L" else 3
    for k, (name, n) in enumerate(per_class.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 40, (size[1], size[0], channels)) + 40
            pixels[..., k % channels] += 60 * k
            image = pixels.clip(0, 255).astype(np.uint8)
            Image.fromarray(image[..., 0] if channels == 1 else image).save(
                root / name / f"{i:03d}.png"
            )
    return root


def interaction_rows(users: int = 40, per_user: int = 8, items: int = 150, seed: int = 0) -> list:
    """(user, item, rating, timestamp) rows: each user's distinct items at increasing times,
    raw ids that are not 0..n-1 (users from 101, items from 1001)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        picked = rng.choice(items, per_user, replace=False)
        times = np.sort(rng.integers(874_000_000, 894_000_000, per_user))
        for item, t in zip(picked, times, strict=True):
            rows.append([101 + u, 1001 + int(item), int(rng.integers(1, 6)), int(t)])
    return rows


def write_movielens(root: Path, variant: str, rows: list | None = None) -> Path:
    """``root/u.data`` (ml-100k: tab-separated) or ``root/ratings.dat`` (ml-1m: ``::``), as
    GroupLens distributes them: user, item, rating, timestamp, no header."""
    name, sep = ("u.data", "\t") if variant == "ml-100k" else ("ratings.dat", "::")
    root.mkdir(parents=True, exist_ok=True)
    lines = [sep.join(str(v) for v in row) for row in rows or interaction_rows()]
    (root / name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    return root


def write_wav_folder(
    root: Path, per_class: dict[str, int], rate: int = 8000, seconds: float = 0.5, seed: int = 0
) -> Path:
    """WAV files ``root/<class>/<i>.wav`` at ``rate`` Hz: class k is a tone of 400 (k + 1) Hz
    with noise, of random length up to ``seconds``, so a network can learn them."""
    import soundfile

    rng = np.random.default_rng(seed)
    for k, (name, n) in enumerate(per_class.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            t = np.arange(int(rate * seconds * rng.uniform(0.5, 1.0))) / rate
            wave = 0.5 * np.sin(2 * np.pi * 400 * (k + 1) * t) + rng.normal(0, 0.05, len(t))
            soundfile.write(root / name / f"{i:03d}.wav", wave.astype(np.float32), rate)
    return root


# dataset=spoken_digits made small for tests: 60 training clips (2 accents x 3 voices), 20 of a
# held-out voice; synthesised in ~2 s and cached under the tests' data dir
SMALL_SPOKEN_DIGITS = [
    "dataset.source.accents=[en-us,en-gb]",
    "dataset.source.variants=[m1,f1,m2]",
    "dataset.source.test_variants=[m3]",
    "dataset.source.speeds=[175]",
    "dataset.source.pitches=[50]",
    "dataset.val_fraction=0.2",
]

# config members that read the user's files -> the kind of file tests give them
OWN_DATA = {
    "dataset=csv": "classification",
    "dataset=image_folder": "images",
    "experiment=csv_classification": "classification",
    "experiment=csv_regression": "regression",
    "experiment=image_folder_cnn": "images",
    # a GAN's FID reads the checkpoint of a classifier the user trained on the same data
    "model=gan": "fid_classifier",
    "model=gan_conditional": "fid_classifier",
    "model=gan_mlp": "fid_classifier",
    "experiment=digits_gan": "fid_classifier",
    "dataset=interactions_file": "interactions",
    "dataset=movielens": "movielens",
    "experiment=movielens_neumf": "movielens",
    "dataset=text_file": "texts",
    # fine-tuning starts from a checkpoint the user trained (any digits LeNet)
    "experiment=digits_finetune_5to9": "pretrained_digits",
    "dataset=multimodal_file": "paired_rows",
    "dataset=wav_folder": "wav",
    "experiment=wav_folder_cnn": "wav",
}


def own_data_for(*overrides: str, tmp_path: Path) -> list[str]:
    """Overrides pointing those of ``overrides`` that read the user's files (:data:`OWN_DATA`)
    at small generated files under ``tmp_path``; none for the others."""
    kinds = [OWN_DATA[o] for o in overrides if o in OWN_DATA]
    return own_data(kinds[-1], tmp_path) if kinds else []


def _class_folders(kind: str, tmp_path: Path) -> list[str]:
    """A folder of images (``images``) or of WAV files (``wav``), one sub-folder per class."""
    if kind == "images":
        write_image_folder(tmp_path / "images", {"a": 20, "b": 20, "c": 20}, mode="RGB")
        return [f"dataset.path={tmp_path / 'images'}"]
    write_wav_folder(tmp_path / "wav", {"low": 20, "mid": 20, "high": 20})
    return [f"dataset.source.path={tmp_path / 'wav'}", "dataset.source.sample_rate=8000"]


def own_data(kind: str, tmp_path: Path) -> list[str]:
    """Overrides pointing ``dataset=csv`` (kind ``classification`` or ``regression``) or
    ``dataset=image_folder`` (kind ``images``) at small generated files under ``tmp_path``."""
    if kind == "classification":
        path = write_csv(tmp_path / "table.csv", *classification_rows())
        return [f"dataset.path={path}", "dataset.target=label"]
    if kind == "regression":
        path = write_csv(tmp_path / "table.csv", *regression_rows())
        return [f"dataset.path={path}", "dataset.target=price"]
    if kind in ("images", "wav"):
        return _class_folders(kind, tmp_path)
    if kind == "fid_classifier":
        from tests.modules.gan_helpers import digits_classifier

        return [f"model.fid_classifier={digits_classifier()}"]
    if kind == "interactions":
        header = ["user", "item", "rating", "timestamp"]
        path = write_csv(tmp_path / "interactions.csv", header, interaction_rows())
        return [f"dataset.source.path={path}"]
    if kind == "movielens":
        return [f"dataset.source.path={write_movielens(tmp_path / 'ml-1m', 'ml-1m')}"]
    if kind == "texts":
        return [f"dataset.texts.path={write_texts(tmp_path / 'texts.csv')}"]
    if kind == "paired_rows":
        path = write_paired_rows(tmp_path / "pairs")
        return [f"dataset.source.rows.path={path}", "dataset.num_classes=2"]
    if kind == "pretrained_digits":
        from tests.modules.gan_helpers import digits_classifier

        return [f"model.transfer.init_from.path={digits_classifier()}"]
    raise ValueError(f"unknown kind of data {kind!r}")


def write_texts(path: Path, n: int = 200, seed: int = 0) -> Path:
    """A CSV of generated review sentences: columns ``text`` and ``label`` (negative/positive)."""
    from src.data.sentiment_grammar import CLASSES, generate

    return write_csv(
        path, ["text", "label"], [[s.text, CLASSES[s.label]] for s in generate(n, seed)]
    )


def write_paired_rows(folder: Path, n: int = 40, missing_image: int = 3) -> Path:
    """``folder/pairs.csv`` (columns image, text, label) and 8x8 PNGs under ``folder/img``:
    label ``bright`` images are light, ``dark`` ones dark; every ``missing_image``-th row has
    no image, and its text names the label."""
    from PIL import Image

    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows: list[list[object]] = []
    for i in range(n):
        label = ("dark", "bright")[i % 2]
        path = None
        if i % missing_image:
            path = f"img/{i}.png"
            pixels = np.full((8, 8), 200 if label == "bright" else 30, np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / path)
        text = f"a {label} picture" if path is None else "a picture"
        rows.append([path, text, label])
    return write_csv(folder / "pairs.csv", ["image", "text", "label"], rows)
