"""Finding and decoding the images of an image folder (torchvision's ImageFolder layout).

``path/<class>/<image>``: one sub-folder per class, images anywhere below it. When ``path/train``
exists the folder is already split: ``train/<class>/...`` and, optionally, ``val/`` and
``test/`` laid out the same way. Reading needs Pillow and numpy only (no torch), so the config
resolver that counts the classes stays light.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SPLITS = ("train", "val", "test")


@dataclass
class Files:
    """Image files and their class indices (-1: no known class, e.g. new images to predict)."""

    paths: list[str]
    labels: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: np.ndarray) -> "Files":
        return Files([self.paths[i] for i in index], self.labels[index])

    @staticmethod
    def join(parts: list["Files"]) -> "Files":
        paths = [p for f in parts for p in f.paths]
        labels = np.concatenate([f.labels for f in parts]) if parts else np.zeros(0)
        return Files(paths, labels.astype(np.int64))


def root(path: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            "dataset.path",
            path,
            "an existing folder with one sub-folder of images per class",
            "check the path (relative paths start at the directory run.py is started from)",
        )
    return folder


def is_split(folder: Path) -> bool:
    """Whether the folder is already split into ``train/`` (``val/``, ``test/``)."""
    return (folder / "train").is_dir()


def class_folders(path: str) -> list[str]:
    """The class names: the sub-folders of ``path`` (of ``path/train`` when it is split)."""
    folder = root(path)
    base = folder / "train" if is_split(folder) else folder
    names = _subfolders(base)
    if not names:
        raise DataError(
            f"{base} has no class sub-folders. Fix: put each class's images in a folder named "
            f"after it, e.g. {base}/cat/0001.png"
        )
    if len(names) < 2:
        raise DataError(
            f"{base} has one class sub-folder ({names[0]}): a classifier needs at least 2. "
            "Fix: add a folder per class"
        )
    return names


def _subfolders(folder: Path) -> list[str]:
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def images_in(folder: Path, recursive: bool = True) -> list[str]:
    """Image files under ``folder`` (by suffix; hidden files left out), sorted."""
    if not recursive:
        return sorted(str(p) for p in folder.iterdir() if p.is_file() and _is_image(p.name))
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in filenames if _is_image(f)]
    return sorted(found)


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(SUFFIXES)


def labelled(base: Path, class_names: list[str]) -> Files:
    """Every image of the class sub-folders of ``base``; an empty class folder is an error, a
    sub-folder that is not a class too (a val/ or test/ class that train/ lacks)."""
    parts = []
    for name in _subfolders(base):
        if name not in class_names:
            raise DataError(
                f"{base / name} is not a class of the training images ({', '.join(class_names)})"
                ". Fix: rename or remove it, or add it to train/"
            )
    for i, name in enumerate(class_names):
        folder = base / name
        if not folder.is_dir():  # val/ or test/ without this class
            continue
        paths = images_in(folder)
        if not paths:
            raise DataError(
                f"class folder {folder} has no images ({', '.join(SUFFIXES)}). Fix: add images "
                "or remove the folder"
            )
        parts.append(Files(paths, np.full(len(paths), i, dtype=np.int64)))
    return Files.join(parts)


def every_image(path: str, class_names: list[str]) -> Files:
    """Every image under ``path`` for predicting: in a folder named after a class, with that
    class; elsewhere (loose in the folder, or in a folder of another name), with class -1."""
    folder = root(path)
    bases = [folder / s for s in SPLITS if (folder / s).is_dir()] if is_split(folder) else [folder]
    parts, unknown = [], []
    for base in bases:
        loose = images_in(base, recursive=False)
        parts.append(Files(loose, np.full(len(loose), -1, dtype=np.int64)))
        for name in _subfolders(base):
            label = class_names.index(name) if name in class_names else -1
            unknown += [name] if label < 0 else []
            paths = images_in(base / name)
            parts.append(Files(paths, np.full(len(paths), label, dtype=np.int64)))
    if unknown:
        log.warning("folders that are no class the model knows (class -1): %s", ", ".join(unknown))
    found = Files.join(parts)
    if not len(found):
        raise DataError(f"{folder} holds no images ({', '.join(SUFFIXES)})")
    return found


def decode(path: str, size: tuple[int, int], channels: int) -> np.ndarray:
    """One image as uint8 (C, H, W): converted to grayscale (1) or RGB (3), resized to (H, W)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as file:
            image = file.convert("L" if channels == 1 else "RGB")
        if image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        pixels = np.array(image, dtype=np.uint8)  # a writable copy
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(
            f"cannot read image {path} ({type(e).__name__}: {e}). Fix: replace or remove it"
        ) from e
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
