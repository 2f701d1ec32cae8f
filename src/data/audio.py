"""Audio clips as fixed-length waveforms: WAV files read with ``soundfile`` (``torchaudio.load``
needs FFmpeg), resampled with torchaudio, padded or cropped to one duration.

A source returns :class:`~src.data.sources.Arrays` whose input ``x`` is (N, 1, samples) float32;
the log-mel front end is part of the network (``src.networks.audio``), so a checkpoint takes
raw waveforms. Sources with speakers hold whole speakers out as the test split
(:func:`speaker_split`): no test voice is heard in training.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from src.data.sources import Arrays
from src.errors import ConfigError, DataError

AUDIO_EXTRA = "pip install -e '.[audio]' (soundfile and torchaudio)"


def num_samples(sample_rate: int, duration: float) -> int:
    """Samples of one clip of ``duration`` seconds at ``sample_rate`` Hz."""
    return round(float(sample_rate) * float(duration))


def soundfile_module() -> Any:
    """The ``soundfile`` package, or a DataError naming the extra that installs it."""
    try:
        import soundfile
    except ImportError as e:
        raise DataError(f"reading WAV files needs the audio extra: {AUDIO_EXTRA}") from e
    return soundfile


def resample(wave: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """``wave`` (T,) from ``rate`` to ``target_rate`` Hz (torchaudio's windowed sinc)."""
    if rate == target_rate:
        return wave
    try:
        import torch
        import torchaudio.functional as AF
    except ImportError as e:
        raise DataError(f"resampling audio needs the audio extra: {AUDIO_EXTRA}") from e
    return AF.resample(torch.from_numpy(wave), rate, target_rate).numpy()


def read_wav(path: Path, sample_rate: int, resample_audio: bool = True) -> np.ndarray:
    """A mono float32 waveform (T,) of ``path`` at ``sample_rate`` Hz (channels averaged).

    Raises:
        DataError: the file cannot be decoded, or its rate differs and resampling is off.
    """
    soundfile = soundfile_module()
    try:
        wave, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as e:  # soundfile.LibsndfileError is a RuntimeError
        raise DataError(
            f"{path}: not a readable audio file ({' '.join(str(e).split())}). "
            "Fix: replace or delete it (WAV, FLAC or OGG that soundfile reads)"
        ) from e
    if rate != sample_rate and not resample_audio:
        raise ConfigError(
            "dataset.source.resample",
            False,
            f"true, or files at dataset.source.sample_rate={sample_rate} Hz ({path} is {rate} Hz)",
            f"set dataset.source.resample=true or dataset.source.sample_rate={rate}",
        )
    return resample(wave.mean(axis=1), rate, sample_rate).astype(np.float32)


def fit_length(wave: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """``wave`` cropped to its first ``length`` samples, or zero-padded after ``offset`` ones."""
    if len(wave) >= length:
        return wave[:length]
    out = np.zeros(length, dtype=np.float32)
    offset = min(offset, length - len(wave))
    out[offset : offset + len(wave)] = wave
    return out


def read_clips(
    paths: Sequence[Path], sample_rate: int, duration: float, resample_audio: bool = True
) -> np.ndarray:
    """The files as one (N, 1, samples) float32 array, each padded or cropped to ``duration``."""
    length = num_samples(sample_rate, duration)
    clips = np.zeros((len(paths), 1, length), dtype=np.float32)
    for i, path in enumerate(paths):
        clips[i, 0] = fit_length(read_wav(path, sample_rate, resample_audio), length)
    return clips


def speaker_split(
    speakers: Sequence[str], test_speakers: Sequence[str] | float, seed: int
) -> np.ndarray:
    """A boolean mask of the clips whose speaker is held out for testing.

    Args:
        speakers: the speaker of each clip.
        test_speakers: the held-out speakers by name, or the share of speakers drawn (seeded).
        seed: seed of the draw.
    """
    names = sorted(set(speakers))
    if isinstance(test_speakers, float | int):
        count = max(1, round(len(names) * float(test_speakers)))
        held = set(np.random.default_rng(seed).permutation(names)[:count].tolist())
    else:
        held = set(test_speakers)
        if unknown := held - set(names):
            raise ConfigError(
                "dataset.source.test_speakers",
                sorted(unknown),
                f"speakers of the data set: {names}",
            )
    if len(held) >= len(names):
        raise ConfigError(
            "dataset.source.test_speakers", sorted(held), "fewer speakers than all of them"
        )
    return np.array([s in held for s in speakers])


def split_by_speaker(
    x: np.ndarray,
    y: np.ndarray,
    speakers: Sequence[str],
    test_speakers: Sequence[str] | float,
    seed: int,
    class_names: list[str],
) -> Arrays:
    """Arrays whose test split holds the clips of the held-out speakers."""
    test = speaker_split(speakers, test_speakers, seed)
    return Arrays(x[~test], y[~test], x[test], y[test], class_names=class_names)
