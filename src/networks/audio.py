"""Audio classifiers over log-mel spectrograms computed inside the network from raw waveforms,
so a checkpoint (and predict on WAV files) needs nothing but the clips."""

from typing import Any

import torch
from torch import nn

from src.data.audio import AUDIO_EXTRA
from src.errors import ConfigError
from src.networks.checks import require_dims


def _torchaudio_transforms() -> Any:
    try:
        import torchaudio.transforms
    except ImportError as e:
        raise ConfigError(
            "model.net.frontend", "LogMel", "torchaudio, which the log-mel front end needs",
            AUDIO_EXTRA,
        ) from e  # fmt: skip
    return torchaudio.transforms


class LogMel(nn.Module):
    """Waveform (B, 1, T) -> normalised log-mel spectrogram (B, 1, n_mels, frames).

    Each utterance is standardised over its own time-frequency bins (loudness and microphone
    gain do not matter). While training, SpecAugment (Park et al. 2019) then zeroes
    ``freq_masks`` bands of up to ``freq_mask_width`` mel bins and ``time_masks`` spans of up to
    ``time_mask_width`` frames, drawn per utterance; evaluation sees the whole spectrogram.

    Args:
        sample_rate: the clips' rate (Hz).
        n_fft: FFT size (samples per window).
        hop_length: samples between frames.
        n_mels: mel bands.
        freq_masks: frequency masks per utterance (0: none).
        freq_mask_width: widest frequency mask, in mel bins.
        time_masks: time masks per utterance (0: none).
        time_mask_width: widest time mask, in frames.
    """

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 256,
        hop_length: int = 80,
        n_mels: int = 40,
        freq_masks: int = 2,
        freq_mask_width: int = 6,
        time_masks: int = 2,
        time_mask_width: int = 10,
    ) -> None:
        super().__init__()
        T = _torchaudio_transforms()
        self.n_mels = n_mels
        self.mel = T.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
        )
        masks = [T.FrequencyMasking(freq_mask_width, iid_masks=True) for _ in range(freq_masks)]
        masks += [T.TimeMasking(time_mask_width, iid_masks=True) for _ in range(time_masks)]
        self.masks = nn.Sequential(*masks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.log(self.mel(x.float()) + 1e-6)  # (B, 1, n_mels, frames)
        mean = spec.mean(dim=(2, 3), keepdim=True)
        std = spec.std(dim=(2, 3), keepdim=True)
        spec = (spec - mean) / (std + 1e-5)
        return self.masks(spec) if self.training else spec  # masked bins = the utterance mean


def _check_waveform(input_shape: list[int], network: str) -> None:
    require_dims(input_shape, 2, network, "dataset=spoken_digits or another audio dataset")
    if input_shape[0] != 1:
        raise ConfigError(
            "model.net.input_shape", list(input_shape), f"[1, samples]: {network} reads mono clips"
        )


class MelCNN(nn.Module):
    """2-D CNN over the log-mel spectrogram: [conv3x3 -> BN -> ReLU -> maxpool2] per entry of
    ``channels``, an average over time, dropout, linear head.

    The head reads every pooled frequency band (channels x bands features): a global average
    over frequency too would leave only the zero padding at the edges to tell a low tone from
    a high one (three tones of tests/test_audio.py, 6 epochs: test accuracy 0.33, 1.0 with this
    head).

    Args:
        frontend: the log-mel front end.
        input_shape: [1, samples] of one clip.
        num_outputs: logits per clip.
        channels: output channels of each conv block.
        dropout: dropout before the head.
    """

    def __init__(
        self,
        frontend: LogMel,
        input_shape: list[int],
        num_outputs: int,
        channels: list[int] = [32, 64, 128],  # noqa: B006  read only
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        _check_waveform(input_shape, "the mel CNN")
        self.frontend = frontend
        blocks: list[nn.Module] = []
        width = 1
        for out in channels:
            blocks += [
                nn.Conv2d(width, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            width = out
        self.features = nn.Sequential(*blocks)
        bands = frontend.n_mels
        for _ in channels:
            bands = -(-bands // 2)  # ceil_mode pooling
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width * bands, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(self.frontend(x))  # (B, C, n_mels / 2^k, frames / 2^k)
        return self.head(maps.mean(dim=3).flatten(1))  # (B, C * n_mels / 2^k)


class MelGRU(nn.Module):
    """GRU over the log-mel frames (one step per frame, ``n_mels`` features), classified from
    the mean of its outputs over time and its final states.

    Args:
        frontend: the log-mel front end.
        input_shape: [1, samples] of one clip.
        num_outputs: logits per clip.
        hidden_size: GRU state width.
        num_layers: stacked GRU layers.
        bidirectional: also read the frames backwards.
        dropout: dropout between GRU layers and before the head.
    """

    def __init__(
        self,
        frontend: LogMel,
        input_shape: list[int],
        num_outputs: int,
        hidden_size: int = 128,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        _check_waveform(input_shape, "the mel GRU")
        self.frontend = frontend
        self.gru = nn.GRU(
            frontend.n_mels,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        width = hidden_size * (2 if bidirectional else 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.frontend(x).squeeze(1).transpose(1, 2)  # (B, frames, n_mels)
        out, h = self.gru(frames)  # out: (B, frames, width); h: (layers * dirs, B, hidden)
        last = h[-out.shape[-1] // h.shape[-1] :].transpose(0, 1).flatten(1)  # (B, width)
        return self.head(torch.cat([out.mean(dim=1), last], dim=1))
