"""Audio sources: WAV folders, FSDD and Speech Commands in their real layouts, eSpeak digits."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from src.data import spoken_digits
from src.data.audio import fit_length, read_wav
from src.data.speech_sets import load_free_spoken_digits, load_speech_commands
from src.data.spoken_digits import SpokenDigits
from src.data.wav_folder import WavFolder
from src.errors import ConfigError, DataError
from tests.data.fakes import write_wav_folder

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (.ci/services/espeak.sh)"
)


def test_a_folder_reads_resampled_fixed_length_clips_with_class_names(tmp_path: Path) -> None:
    write_wav_folder(tmp_path, {"high": 3, "low": 2}, rate=16000, seconds=0.5)
    data = WavFolder(str(tmp_path), sample_rate=8000, duration=0.25)()
    assert data.x.shape == (5, 1, 2000)  # type: ignore[union-attr]
    assert data.class_names == ["high", "low"]
    assert data.y.tolist() == [0, 0, 0, 1, 1]


def test_short_clips_are_zero_padded_long_ones_cropped() -> None:
    wave = np.ones(5, dtype=np.float32)
    assert fit_length(wave, 8).tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert fit_length(wave, 8, offset=2).tolist() == [0, 0, 1, 1, 1, 1, 1, 0]
    assert fit_length(wave, 3).tolist() == [1, 1, 1]


def test_an_unreadable_wav_names_the_file(tmp_path: Path) -> None:
    write_wav_folder(tmp_path, {"a": 2, "b": 2})
    bad = tmp_path / "b" / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(DataError, match=r"broken\.wav: not a readable audio file"):
        WavFolder(str(tmp_path), sample_rate=8000, duration=0.5)()


def test_another_rate_with_resampling_off_names_the_key_and_both_rates(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    soundfile.write(path, np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(ConfigError, match=r"dataset\.source\.resample=False") as e:
        read_wav(path, 8000, resample_audio=False)
    assert "is 16000 Hz" in str(e.value) and "dataset.source.sample_rate=16000" in str(e.value)
    assert len(read_wav(path, 8000)) == 800  # resampled when allowed


def test_an_empty_class_folder_is_named(tmp_path: Path) -> None:
    write_wav_folder(tmp_path, {"a": 2})
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match=r"class folder 'b' holds no audio files"):
        WavFolder(str(tmp_path), sample_rate=8000, duration=0.5)()


def test_predicting_labels_known_classes_and_loose_files_minus_one(tmp_path: Path) -> None:
    write_wav_folder(tmp_path, {"low": 1, "new": 1})
    soundfile.write(tmp_path / "loose.wav", np.zeros(800, dtype=np.float32), 8000)
    source = WavFolder(str(tmp_path), sample_rate=8000, duration=0.5)
    source.load_state_dict({"class_names": ["high", "low"]})  # as a checkpoint restores it
    data = source()
    assert data.y.tolist() == [1, -1, -1]  # low/, new/, loose.wav
    assert data.class_names == ["high", "low"]


def write_fsdd(root: Path) -> None:
    folder = root / "free-spoken-digit-dataset-1.0.10" / "recordings"
    folder.mkdir(parents=True)
    for speaker in ("george", "theo", "lucas"):
        for digit in range(10):
            wave = np.full(400, digit / 10, dtype=np.float32)
            soundfile.write(folder / f"{digit}_{speaker}_0.wav", wave, 8000)


def test_fsdd_holds_out_the_test_speakers(tmp_path: Path) -> None:
    write_fsdd(tmp_path)
    data = load_free_spoken_digits(str(tmp_path), duration=0.1, test_speakers=["theo"])
    assert data.x.shape == (20, 1, 800) and data.y_test is not None  # type: ignore[union-attr]
    assert sorted(data.y_test.tolist()) == list(range(10))


def test_offline_datasets_say_what_to_download_and_where(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Download https://github\.com/Jakobovski") as e:
        load_free_spoken_digits(str(tmp_path), download=False)
    assert f"extract it into {tmp_path}/ (so that {tmp_path}/free-spoken" in str(e.value)
    assert "dataset.source.download=true" in str(e.value)
    with pytest.raises(DataError, match=r"speech_commands_v0\.02\.tar\.gz and extract"):
        load_speech_commands(str(tmp_path), download=False)


def test_a_failed_download_says_why_and_what_to_do_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.request
    from urllib.error import URLError

    def offline(url: str, filename: Path) -> None:
        raise URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    with pytest.raises(DataError, match=r"Downloading it failed \(URLError") as e:
        load_free_spoken_digits(str(tmp_path))
    assert "Download https://github.com/Jakobovski" in str(e.value)
    assert not list(tmp_path.glob("*.part"))  # no half-downloaded archive left behind


def test_speech_commands_tests_on_its_testing_list(tmp_path: Path) -> None:
    folder = tmp_path / "speech_commands_v0.02"
    for word in ("yes", "no", "up"):
        (folder / word).mkdir(parents=True)
        for speaker in ("aa11", "bb22"):
            soundfile.write(folder / word / f"{speaker}_nohash_0.wav", np.zeros(1600), 16000)
    (folder / "testing_list.txt").write_text("yes/bb22_nohash_0.wav\nno/bb22_nohash_0.wav\n")
    data = load_speech_commands(str(tmp_path), words=["yes", "no"])
    assert data.y.tolist() == [0, 1] and data.y_test is not None
    assert data.y_test.tolist() == [0, 1]
    assert data.x.shape == (2, 1, 16000)  # type: ignore[union-attr]


def test_a_missing_espeak_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spoken_digits.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="apt-get install espeak-ng"):
        SpokenDigits(str(tmp_path))()


def test_a_voice_in_both_splits_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset.source.test_variants=\['m1'\]"):
        SpokenDigits(str(tmp_path), variants=["m1", "f1"], test_variants=["m1"])


@needs_espeak
def test_spoken_digits_are_synthesised_once_and_cached(tmp_path: Path) -> None:
    source = SpokenDigits(str(tmp_path), accents=["en-us"], variants=["m1"], test_variants=["f2"])
    data = source()
    assert data.x.shape == (10, 1, 8000) and data.y.tolist() == list(range(10))  # type: ignore[union-attr]
    assert data.y_test is not None and data.y_test.tolist() == list(range(10))
    assert np.abs(data.x).max() > 0.1  # type: ignore[union-attr]  speech, not silence
    again = SpokenDigits(str(tmp_path), accents=["en-us"], variants=["m1"], test_variants=["f2"])
    assert again.cache_file == source.cache_file and source.cache_file.is_file()
    np.testing.assert_array_equal(again().x, data.x)  # type: ignore[arg-type]
