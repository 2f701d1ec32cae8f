"""Text networks: padding never changes a prediction; every pooling and cell builds and learns."""

import pytest
import torch

from src.errors import ConfigError
from src.networks.text import cnn_classifier, rnn_classifier, transformer_classifier

VOCAB = 50


def _nets() -> dict[str, torch.nn.Module]:
    return {
        "lstm_last": rnn_classifier(VOCAB, 3, 16, 16, pooling="last"),
        "gru_uni_mean": rnn_classifier(VOCAB, 3, 16, 16, bidirectional=False, cell="gru",
                                       pooling="mean"),
        "lstm_2layer_attention": rnn_classifier(VOCAB, 3, 16, 16, num_layers=2,
                                                pooling="attention"),
        "cnn_max": cnn_classifier(VOCAB, 3, 16, 8, (3, 5), pooling="max"),
        "cnn_mean": cnn_classifier(VOCAB, 3, 16, 8, (3,), pooling="mean"),
        "transformer_mean": transformer_classifier(VOCAB, 3, 32, 16, 2, 2, pooling="mean"),
        "transformer_last": transformer_classifier(VOCAB, 3, 32, 16, 2, 1, pooling="last"),
        "transformer_max": transformer_classifier(VOCAB, 3, 32, 16, 2, 1, pooling="max"),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(_nets()))
def test_a_sentence_alone_and_beside_a_long_one_gets_the_same_logits(name: str) -> None:
    torch.manual_seed(0)
    net = _nets()[name].eval()
    short = torch.tensor([[5, 9, 2, 7]])
    long = torch.randint(2, VOCAB, (1, 20))
    batch = torch.zeros(2, 20, dtype=torch.long)  # padded with 0 to the longest
    batch[0, :4], batch[1] = short[0], long[0]
    alone = net(short, torch.tensor([4]))
    together = net(batch, torch.tensor([4, 20]))
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=1e-5)
    assert together.shape == (2, 3)


def test_unknown_pooling_and_cell_name_their_keys() -> None:
    with pytest.raises(ConfigError, match=r"model\.net\.pooling"):
        rnn_classifier(VOCAB, 2, pooling="sum")
    with pytest.raises(ConfigError, match=r"model\.net\.cell"):
        rnn_classifier(VOCAB, 2, cell="rnn")
    with pytest.raises(ConfigError, match=r"model\.net\.kernel_sizes"):
        cnn_classifier(VOCAB, 2, kernel_sizes=(2,))


def test_transformer_refuses_batches_longer_than_its_positions() -> None:
    net = transformer_classifier(VOCAB, 2, max_length=8, n_embd=16, n_head=2, n_layer=1)
    with pytest.raises(ConfigError, match=r"model\.net\.max_length"):
        net(torch.ones(1, 9, dtype=torch.long), torch.tensor([9]))
