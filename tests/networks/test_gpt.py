"""The GPT network: shapes, its config errors, the key/value cache, activation checkpointing."""

import pytest
import torch

from src.errors import ConfigError
from src.modules.language_model import decay_groups
from src.networks.gpt import GPT
from src.networks.transformer import Block
from tests.conftest import Compose


def tiny(**kwargs: object) -> GPT:
    torch.manual_seed(0)
    options: dict = {"vocab_size": 20, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16}
    return GPT(**(options | kwargs))


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_cache_gives_the_logits_of_the_whole_sequence(positions: str) -> None:
    net = tiny(positions=positions).eval()
    x = torch.randint(0, 20, (2, 12))
    whole = net(x)
    assert whole.shape == (2, 12, 20)
    cache = net.new_cache()
    parts = [net(x[:, :5], cache), net(x[:, 5:6], cache), net(x[:, 6:], cache)]
    torch.testing.assert_close(torch.cat(parts, 1), whole, atol=1e-5, rtol=1e-5)


def test_causal_a_later_token_does_not_change_earlier_logits() -> None:
    net = tiny().eval()
    x = torch.randint(0, 20, (1, 10))
    y = x.clone()
    y[0, -1] = (x[0, -1] + 1) % 20
    torch.testing.assert_close(net(x)[:, :-1], net(y)[:, :-1])


def test_weights_are_tied() -> None:
    net = tiny()
    assert net.lm_head.weight is net.wte.weight


def test_n_embd_not_divisible_by_n_head_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.net\.n_embd=30: expected a multiple of "):
        tiny(n_embd=30, n_head=4)


def test_unknown_positions_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.net\.positions='alibi'"):
        tiny(positions="alibi")


def test_activation_checkpointing_gives_the_same_gradients() -> None:
    x = torch.randint(0, 20, (2, 8))
    grads = []
    for checkpointing in (False, True):
        net = tiny(activation_checkpointing=checkpointing).train()
        net(x).square().mean().backward()
        grads.append(net.blocks[0].attn.qkv.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_decay_only_on_matrices_of_linear_layers() -> None:
    net = tiny(bias=True)
    decay, rest = decay_groups(net)
    assert rest["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert not any(p is net.wte.weight for p in decay["params"])  # embedding (tied head)
    assert any(p is net.wte.weight for p in rest["params"])
    total = sum(p.numel() for p in net.parameters())
    assert sum(p.numel() for g in (decay, rest) for p in g["params"]) == total


def test_decay_embeddings_decays_every_matrix_as_nanogpt() -> None:
    net = tiny(bias=True)
    decay, rest = decay_groups(net, decay_embeddings=True)
    assert any(p is net.wte.weight for p in decay["params"])  # tied head, listed once
    assert any(p is net.wpe.weight for p in decay["params"])
    assert all(p.ndim == 1 for p in rest["params"])  # norms and biases only
    total = sum(p.numel() for p in net.parameters())
    assert sum(p.numel() for g in (decay, rest) for p in g["params"]) == total


def test_fsdp_wraps_each_transformer_block(compose_cfg: Compose) -> None:
    """Built on the CPU: the strategy's wrap policy names the Block (running it needs GPUs)."""
    from src.experiments import build

    cfg = compose_cfg(
        "experiment=lm_stdlib_char",
        "hardware=fsdp",
        "hardware.strategy.auto_wrap_policy={_target_:src.networks.transformer.module_classes,"
        "names:[src.networks.transformer.Block]}",
    )
    strategy = build.instantiate(cfg, "hardware.strategy")
    assert Block in strategy.kwargs["auto_wrap_policy"]._module_classes
