"""Recorded speech data sets: Free Spoken Digit (FSDD) and Google Speech Commands v0.02.

Both are read from ``root`` (``paths.data_dir``) and downloaded there when missing and
``download`` is true; offline, one :class:`DataError` says what to download and where to put it.
Both are split by speaker: no test speaker is heard in training.
"""

import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.data.audio import read_clips, split_by_speaker
from src.data.sources import Arrays
from src.errors import DataError

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


@dataclass(frozen=True)
class Archive:
    """A data set's archive: where it comes from and the folder it holds once extracted."""

    name: str
    url: str
    folder: str  # relative to root, holding the data once extracted
    extract_to: str  # relative to root: where the archive's members are extracted

    def ensure(self, root: Path, download: bool) -> Path:
        """``root/folder``, downloaded and extracted first when missing and allowed."""
        folder = root / self.folder
        if folder.is_dir():
            return folder
        where = (
            f"{self.name}: {folder}/ is missing. Download {self.url} and extract it into "
            f"{root / self.extract_to}/ (so that {folder}/ exists)"
        )
        if not download:
            raise DataError(f"{where}, or set dataset.source.download=true when online.")
        try:
            _fetch(self.url, root / self.extract_to)
        except OSError as e:  # no network (URLError), disk full, bad archive (ReadError)
            reason = " ".join(f"{type(e).__name__}: {e}".split())
            raise DataError(f"{where}. Downloading it failed ({reason}).") from e
        if not folder.is_dir():
            raise DataError(f"{where}: the downloaded archive did not hold it.")
        return folder


def _fetch(url: str, into: Path) -> None:
    from urllib.request import urlretrieve

    into.mkdir(parents=True, exist_ok=True)
    part = into / (url.rsplit("/", 1)[-1] + ".part")
    try:
        urlretrieve(url, part)
        with tarfile.open(part) as archive:
            archive.extractall(into, filter="data")
    finally:
        part.unlink(missing_ok=True)


FSDD = Archive(
    "Free Spoken Digit Dataset",
    "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz",
    "free-spoken-digit-dataset-1.0.10/recordings",
    ".",
)
SPEECH_COMMANDS = Archive(
    "Speech Commands v0.02",
    "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
    "speech_commands_v0.02",
    "speech_commands_v0.02",
)


def load_free_spoken_digits(
    root: str,
    sample_rate: int = 8000,
    duration: float = 1.0,
    test_speakers: Sequence[str] = ("theo",),
    download: bool = True,
    seed: int = 42,
) -> Arrays:
    """FSDD's ``recordings/<digit>_<speaker>_<n>.wav`` (8 kHz), the test split ``test_speakers``.

    Args:
        root: folder holding ``free-spoken-digit-dataset-1.0.10/`` (``paths.data_dir``).
        sample_rate: rate clips are resampled to (Hz).
        duration: seconds per clip (padded or cropped).
        test_speakers: speakers held out for testing (george, jackson, lucas, nicolas, theo,
            yweweler).
        download: fetch the archive from GitHub when the folder is missing.
        seed: unused by a list of speakers; kept for a fractional ``test_speakers``.
    """
    folder = FSDD.ensure(Path(root), download)
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise DataError(f"{FSDD.name}: {folder}/ holds no .wav files. Extract the archive again")
    parts = [f.stem.split("_") for f in files]
    y = np.array([int(p[0]) for p in parts], dtype=np.int64)
    x = read_clips(files, sample_rate, duration)
    names = [str(i) for i in range(10)]
    return split_by_speaker(x, y, [p[1] for p in parts], test_speakers, seed, names)


def load_speech_commands(
    root: str,
    words: Sequence[str] = COMMANDS,
    sample_rate: int = 16000,
    duration: float = 1.0,
    download: bool = True,
) -> Arrays:
    """Speech Commands v0.02 clips of ``words``; the test split is the set's own
    ``testing_list.txt``, whose speakers never occur in the other splits (it is drawn by a
    hash of the speaker id).

    Args:
        root: folder holding ``speech_commands_v0.02/`` (``paths.data_dir``).
        words: the classes (folders of the set), e.g. the ten commands.
        sample_rate: rate clips are resampled to (Hz).
        duration: seconds per clip (padded or cropped).
        download: fetch the 2.3 GB archive when the folder is missing.
    """
    folder = SPEECH_COMMANDS.ensure(Path(root), download)
    listed = folder / "testing_list.txt"
    if not listed.is_file():
        raise DataError(f"{SPEECH_COMMANDS.name}: {listed} is missing. Extract the archive again")
    test_files = set(listed.read_text().split())
    files, labels, test = [], [], []
    for label, word in enumerate(words):
        if not (folder / word).is_dir():
            raise DataError(f"{SPEECH_COMMANDS.name}: no folder {folder / word} for word '{word}'")
        for file in sorted((folder / word).glob("*.wav")):
            files.append(file)
            labels.append(label)
            test.append(f"{word}/{file.name}" in test_files)
    x, y, held = read_clips(files, sample_rate, duration), np.array(labels), np.array(test)
    return Arrays(x[~held], y[~held], x[held], y[held], class_names=list(words))
