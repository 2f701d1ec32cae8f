"""The log-mel front end and the audio networks read raw clips."""

import pytest
import torch

from src.errors import ConfigError
from src.networks.audio import LogMel, MelCNN, MelGRU


def clips(n: int = 4, samples: int = 4000) -> torch.Tensor:
    """(n, 1, samples) tones of 300 (i + 1) Hz at 8 kHz, with a little noise."""
    t = torch.arange(samples) / 8000
    tones = torch.stack([torch.sin(2 * torch.pi * 300 * (i + 1) * t) for i in range(n)])
    noise = 0.01 * torch.randn(n, samples, generator=torch.Generator().manual_seed(0))
    return (tones + noise)[:, None]


def test_log_mel_is_one_normalised_spectrogram_per_clip() -> None:
    frontend = LogMel(8000, n_fft=256, hop_length=80, n_mels=32).eval()
    spec = frontend(clips())
    assert spec.shape == (4, 1, 32, 51)  # 4000 samples / hop 80 + 1 frames
    assert torch.allclose(spec.mean(dim=(2, 3)), torch.zeros(4, 1), atol=1e-4)
    assert torch.allclose(spec.std(dim=(2, 3)), torch.ones(4, 1), atol=1e-3)
    # per-utterance normalisation: a clip 10x louder gives the same input to the network
    assert torch.allclose(frontend(10 * clips()), spec, atol=1e-3)
    assert not torch.allclose(frontend(clips().flip(0)), spec, atol=1e-3)


def test_spec_augment_masks_while_training_only() -> None:
    frontend = LogMel(8000, n_mels=32, freq_masks=2, freq_mask_width=8, time_masks=2)
    x = clips()
    frontend.eval()
    assert torch.equal(frontend(x), frontend(x))
    frontend.train()
    torch.manual_seed(0)
    masked = frontend(x)
    assert not torch.equal(masked, frontend.eval()(x))
    assert (masked == 0).float().mean() > 0.05  # whole bands/spans set to the clip's mean (0)


@pytest.mark.parametrize(
    ("network", "size"),
    [(MelCNN, {"channels": [8, 16]}), (MelGRU, {"hidden_size": 16, "num_layers": 1})],
)
def test_audio_networks_map_clips_to_logits_and_learn(network: type, size: dict) -> None:
    torch.manual_seed(0)
    frontend = LogMel(8000, n_mels=16, freq_masks=0, time_masks=0)
    net = network(frontend, input_shape=[1, 2000], num_outputs=4, **size)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    x, y = clips(samples=2000), torch.arange(4)
    for _ in range(40):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
    assert net.eval()(x).argmax(-1).tolist() == [0, 1, 2, 3]


def test_an_image_dataset_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model.net.input_shape=\[1, 8, 8\]"):
        MelCNN(LogMel(8000), input_shape=[1, 8, 8], num_outputs=10)
