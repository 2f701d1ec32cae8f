"""A folder of audio files, one sub-folder per class (``dataset=wav_folder``)."""

from pathlib import Path
from typing import Any

import numpy as np

from src.data.audio import read_clips
from src.data.sources import Arrays
from src.errors import ConfigError, DataError

EXTENSIONS = (".wav", ".flac", ".ogg")


def audio_files(folder: Path) -> list[Path]:
    """The audio files directly in ``folder``, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


def class_folders(path: str | Path) -> list[str]:
    """The class sub-folders of ``path``, sorted (each must hold audio files)."""
    root = Path(path)
    if not root.is_dir():
        raise ConfigError("dataset.path", str(path), "a folder with one sub-folder per class")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for name in names:
        if not audio_files(root / name):
            raise DataError(
                f"{root / name}: class folder '{name}' holds no audio files "
                f"({', '.join(EXTENSIONS)}). Fix: add its recordings or remove the folder"
            )
    return names


class WavFolder:
    """The clips of ``path``: ``path/<class>/*.wav``, resampled and padded/cropped.

    The class names are its state (saved in checkpoints): predicting from a checkpoint
    (``predict.split=all``) labels the files of a folder named after a known class with that
    class and every other file, including loose files directly in ``path``, with -1. Rows come
    in sorted order: class folders, then their files, then the loose files.

    Args:
        path: the folder.
        sample_rate: rate the clips are resampled to (Hz).
        duration: seconds per clip; longer files are cropped, shorter ones zero-padded.
        resample: false refuses files at another rate instead of resampling them.
    """

    def __init__(self, path: str, sample_rate: int, duration: float, resample: bool = True) -> None:
        self.path, self.sample_rate, self.duration = Path(path), sample_rate, duration
        self.resample = resample
        self.class_names: list[str] | None = None  # set from a checkpoint's state
        self._cache: Arrays | None = None

    def __call__(self) -> Arrays:
        if self._cache is None:
            self._cache = self._load()
        return self._cache

    def _load(self) -> Arrays:
        found = class_folders(self.path)
        predicting = self.class_names is not None
        names = self.class_names if predicting else found
        if not names:
            raise DataError(f"{self.path}: no class sub-folders with audio files")
        files, labels = [], []
        for name in found:
            label = names.index(name) if name in names else -1
            for file in audio_files(self.path / name):
                files.append(file)
                labels.append(label)
        if predicting:  # loose files have no class
            files += audio_files(self.path)
            labels += [-1] * (len(files) - len(labels))
        x = read_clips(files, self.sample_rate, self.duration, self.resample)
        return Arrays(x, np.array(labels, dtype=np.int64), class_names=list(names))

    def fit(self, rows: np.ndarray) -> None:
        """Nothing to learn from the rows: the class names are the training folders'."""

    def state_dict(self) -> dict[str, Any]:
        return {"class_names": list(self().class_names or [])}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.class_names, self._cache = list(state["class_names"]), None
