"""Spoken digits synthesised offline with eSpeak NG (``dataset=spoken_digits``).

Every digit word is spoken by every voice (an accent, e.g. ``en-gb-scotland``, with a voice
variant, e.g. ``f2``: a speaker's formants, pitch and breathiness) at several speeds and pitches,
placed at a random offset in the clip and mixed with white noise at a random SNR. The test split
holds the ``test_variants``: voices never heard in training, in any accent. Synthesis takes
~15 ms per utterance (2 cores run two at a time); the clips are cached under ``cache_dir``.
"""

import hashlib
import io
import json
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from src.data.audio import fit_length, num_samples, resample, soundfile_module
from src.data.sources import Arrays
from src.errors import ConfigError, DataError

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
INSTALL = "sudo apt-get install espeak-ng (Debian/Ubuntu), or as root: bash .ci/services/espeak.sh"


def espeak() -> str:
    """The ``espeak-ng`` executable, or a DataError saying how to install it."""
    found = shutil.which("espeak-ng")
    if found is None:
        raise DataError(
            "dataset=spoken_digits synthesises its clips with the espeak-ng program, which is "
            f"not installed (not on PATH). Fix: {INSTALL}"
        )
    return found


def speak(word: str, voice: str, speed: int, pitch: int, sample_rate: int) -> np.ndarray:
    """One utterance (T,) float32 at ``sample_rate`` Hz, silence trimmed."""
    soundfile = soundfile_module()

    cmd = [espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "-z", "--stdout", word]
    done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout:
        raise DataError(f"espeak-ng failed on {cmd[1:]}: {done.stderr.decode()[-300:]}")
    wave, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32")
    loud = np.flatnonzero(np.abs(wave) > 0.01)
    wave = wave[loud[0] : loud[-1] + 1] if len(loud) else wave
    return resample(wave, rate, sample_rate)


def _mix(wave: np.ndarray, length: int, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``wave`` at a random offset of a clip of ``length`` samples, plus noise at ``snr_db``."""
    offset = int(rng.integers(0, max(1, length - len(wave) + 1)))
    clip = fit_length(wave, length, offset)
    power = float(np.mean(wave**2)) if len(wave) else 1.0
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), length)
    return (clip + noise).astype(np.float32)


class SpokenDigits:
    """The synthesised set: (N, 1, samples) clips, label = digit, split by voice variant.

    Args:
        cache_dir: folder for the cached clips (``paths.data_dir``).
        sample_rate: clip rate in Hz (eSpeak speaks at 22,050 Hz; resampled).
        duration: seconds per clip.
        accents: eSpeak English voices (``espeak-ng --voices=en``).
        variants: voice variants of the training split (``espeak-ng --voices=variant``).
        test_variants: voice variants of the test split only.
        speeds: words per minute.
        pitches: pitch adjustments, 0..99.
        snr_db: [low, high] signal-to-noise ratio of the added white noise, drawn per clip.
        seed: seed of offsets and noise.
    """

    def __init__(
        self,
        cache_dir: str,
        sample_rate: int = 8000,
        duration: float = 1.0,
        accents: Sequence[str] = ("en-us", "en-gb"),
        variants: Sequence[str] = ("m1", "f1"),
        test_variants: Sequence[str] = ("m3",),
        speeds: Sequence[int] = (150,),
        pitches: Sequence[int] = (50,),
        snr_db: Sequence[float] = (10.0, 30.0),
        seed: int = 42,
    ) -> None:
        if shared := set(variants) & set(test_variants):
            raise ConfigError(
                "dataset.source.test_variants",
                sorted(shared),
                "voice variants that are not in dataset.source.variants (held-out voices)",
                "remove them from one of the two lists",
            )
        self.options: dict[str, Any] = {
            "sample_rate": int(sample_rate), "duration": float(duration),
            "accents": list(accents), "variants": list(variants),
            "test_variants": list(test_variants), "speeds": [int(s) for s in speeds],
            "pitches": [int(p) for p in pitches], "snr_db": [float(s) for s in snr_db],
            "seed": int(seed),
        }  # fmt: skip
        self.cache_dir = Path(cache_dir)

    @property
    def cache_file(self) -> Path:
        key = hashlib.sha1(json.dumps(self.options, sort_keys=True).encode()).hexdigest()[:10]
        return self.cache_dir / "spoken_digits" / f"{key}.npz"

    def __call__(self) -> Arrays:
        if not self.cache_file.is_file():
            x, y, x_test, y_test = *self._synthesise("variants"), *self._synthesise("test_variants")
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            part = self.cache_file.with_suffix(".part.npz")
            np.savez(part, x=x, y=y, x_test=x_test, y_test=y_test)
            part.replace(self.cache_file)  # atomic: a killed run leaves no half cache
        data = np.load(self.cache_file)
        names = [str(i) for i in range(10)]
        return Arrays(data["x"], data["y"], data["x_test"], data["y_test"], names)

    def _synthesise(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        o = self.options
        jobs = list(product(o["accents"], o[which], o["speeds"], o["pitches"], range(10)))
        rate, length = o["sample_rate"], num_samples(o["sample_rate"], o["duration"])

        def one(job: tuple[str, str, int, int, int]) -> np.ndarray:
            accent, variant, speed, pitch, digit = job
            return speak(WORDS[digit], f"{accent}+{variant}", speed, pitch, rate)

        espeak()  # one clear error before starting threads
        with ThreadPoolExecutor(max_workers=4) as pool:
            waves = list(pool.map(one, jobs))
        rng = np.random.default_rng(o["seed"] + (which == "test_variants"))
        low, high = o["snr_db"]
        snr = rng.uniform(low, high, len(jobs))
        x = np.stack([_mix(w, length, s, rng) for w, s in zip(waves, snr, strict=True)])[:, None]
        return x, np.array([job[-1] for job in jobs], dtype=np.int64)
