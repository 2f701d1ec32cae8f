"""LoRA adapters: only they train, the base weights stay, merging changes no output."""

from pathlib import Path

import pytest
import torch

from src.errors import ConfigError
from src.experiments.train import train
from src.networks.gpt import GPT
from src.networks.lora import LoRA, LoRALinear, merge
from tests.conftest import Compose


def tiny() -> GPT:
    torch.manual_seed(0)
    return GPT(20, block_size=16, n_layer=2, n_head=2, n_embd=16)


def test_only_the_adapters_train() -> None:
    net = LoRA(rank=4, alpha=8, target_modules=["qkv", "attn.proj"]).apply(tiny())
    adapted = [m for m in net.modules() if isinstance(m, LoRALinear)]
    assert len(adapted) == 4  # qkv and attn.proj of 2 blocks, not mlp.proj
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_a", "lora_b")) for n in trainable)
    # per block: qkv A (4, 16) + B (48, 4), proj A (4, 16) + B (16, 4)
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 2 * (256 + 128)


def test_an_adapted_network_starts_as_the_base_and_merges_exactly() -> None:
    x = torch.randint(0, 20, (2, 8))
    base = tiny().eval()
    before = base(x)
    net = LoRA(rank=2, target_modules=["blocks.*.attn.qkv"]).apply(base).eval()
    torch.testing.assert_close(net(x), before)  # B starts at zero
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, LoRALinear):
                m.lora_b.normal_()
    adapted = net(x)
    assert not torch.allclose(adapted, before)
    merged = merge(net)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    torch.testing.assert_close(merged(x), adapted, atol=1e-5, rtol=1e-5)


def test_target_modules_matching_nothing_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.lora\.target_modules=\['q_proj'\].*pick among"):
        LoRA(target_modules=["q_proj"]).apply(tiny())


def test_fine_tuning_a_checkpoint_changes_only_the_adapters(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    lm = ["experiment=lm_stdlib_char", "model=gpt_tiny", "test=false"]
    pretrained = Path(train(compose_cfg(*lm, run_dir=tmp_path / "pre"))["run_dir"])
    ckpt = pretrained / "checkpoints" / "last.ckpt"
    text = tmp_path / "other.txt"
    text.write_text("def other(corpus):\n    return corpus\n" * 400)
    lora = ["model=gpt_lora", "model.net.n_layer=2", "model.net.n_head=2", "model.net.n_embd=32"]
    metrics = train(
        compose_cfg(
            *lm,
            *lora,
            f"model.pretrained={ckpt}",
            f"dataset.path={text}",
            run_dir=tmp_path / "fine",
        )
    )
    before = torch.load(ckpt, weights_only=False)["state_dict"]
    after = torch.load(Path(metrics["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=False)
    after = after["state_dict"]
    base = "net.blocks.0.attn.qkv"
    torch.testing.assert_close(after[f"{base}.base.weight"], before[f"{base}.weight"])
    torch.testing.assert_close(after["net.wte.weight"], before["net.wte.weight"])
    assert after[f"{base}.lora_b"].abs().sum() > 0  # the adapter trained
