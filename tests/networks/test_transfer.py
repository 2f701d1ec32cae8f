"""Transfer learning: partial loading with its report, weight files, LoRA, per-group rates."""

from pathlib import Path

import pytest
import torch

from src.errors import ConfigError
from src.networks.cnn import LeNet
from src.networks.lora import LoRA
from src.networks.mlp import MLP
from src.networks.transfer import Checkpoint, StateDictFile, Transfer, load_partial
from src.optim import parameter_groups


def lenet(outputs: int) -> LeNet:
    return LeNet([1, 8, 8], outputs, [8, 16], hidden=16)


def write_checkpoint(net: torch.nn.Module, path: Path) -> str:
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return str(path)


def test_a_new_head_is_reported_and_the_rest_loaded(tmp_path: Path) -> None:
    source, target = lenet(10), lenet(5)
    ckpt = write_checkpoint(source, tmp_path / "pre.ckpt")
    report = load_partial(target, Checkpoint(ckpt).weights())
    assert report.mismatched == ["head.4.weight [10, 16]->[5, 16]", "head.4.bias [10]->[5]"]
    assert "features.0.weight" in report.loaded and not report.missing
    assert torch.equal(target.features[0].weight, source.features[0].weight)
    assert "2 mismatched" in report.summary()


def test_skip_patterns_keep_a_fresh_initialisation(tmp_path: Path) -> None:
    source, target = lenet(5), lenet(5)
    ckpt = write_checkpoint(source, tmp_path / "pre.ckpt")
    before = target.head[4].weight.clone()
    Transfer(Checkpoint(ckpt, skip=["head.4.*"])).apply(target)
    assert torch.equal(target.head[4].weight, before)
    assert torch.equal(target.head[2].weight, source.head[2].weight)


def test_a_checkpoint_of_another_network_stops_with_the_keys(tmp_path: Path) -> None:
    ckpt = write_checkpoint(MLP([30], 2, [8]), tmp_path / "mlp.ckpt")
    with pytest.raises(ConfigError, match=r"model.transfer.init_from.*this network's keys"):
        Transfer(Checkpoint(ckpt)).apply(lenet(5))


def test_a_missing_checkpoint_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.transfer.init_from.path.*checkpoints/last.ckpt"):
        Checkpoint(str(tmp_path / "none.ckpt")).weights()


def test_a_missing_torchvision_file_says_where_to_download_it(tmp_path: Path) -> None:
    path = tmp_path / "resnet18-f37072fd.pth"
    with pytest.raises(ConfigError, match=r"download.pytorch.org/models/resnet18-f37072fd.pth"):
        StateDictFile(str(path)).weights()


def test_a_torchvision_state_dict_initialises_a_resnet(tmp_path: Path) -> None:
    from torchvision.models import resnet18 as tv_resnet18

    from src.networks.resnet import resnet18

    path = tmp_path / "resnet18.pth"
    torch.save(tv_resnet18(num_classes=1000).state_dict(), path)
    net = resnet18([3, 32, 32], 4, small_input=False)
    report = load_partial(net, StateDictFile(str(path)).weights())
    assert report.mismatched == ["fc.weight [1000, 512]->[4, 512]", "fc.bias [1000]->[4]"]
    assert len(report.loaded) == len(net.state_dict()) - 2


def test_lora_leaves_adapters_and_the_named_head_trainable() -> None:
    net = Transfer(lora=LoRA(rank=2, target_modules=["head.2"]), trainable=["head.4.*"]).apply(
        lenet(5)
    )
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"head.2.lora_a", "head.2.lora_b", "head.4.weight", "head.4.bias"}


def test_lr_multipliers_make_one_group_per_pattern() -> None:
    named = list(lenet(5).named_parameters())
    groups = parameter_groups(named, {"features.*": 0.1})
    assert [g["lr_multiplier"] for g in groups] == [0.1, 1.0]
    assert sum(len(g["params"]) for g in groups) == len(named)
    with pytest.raises(ConfigError, match=r"model.transfer.lr_multipliers.*featurs"):
        parameter_groups(named, {"featurs.*": 0.1})


def test_lora_adapts_convolutions_and_merges_back() -> None:
    from src.networks.lora import LoRAConv2d, merge

    net = lenet(5).eval()
    x = torch.randn(4, 1, 8, 8)
    before = net(x)
    LoRA(rank=2, target_modules=["features.0"]).apply(net)
    adapter = net.features[0]
    assert isinstance(adapter, LoRAConv2d) and torch.allclose(net(x), before)  # B starts at 0
    torch.nn.init.normal_(adapter.lora_b.weight)
    adapted = net(x)
    merge(net)
    assert isinstance(net.features[0], torch.nn.Conv2d)
    assert torch.allclose(net(x), adapted, atol=1e-5)


def test_lora_adapts_the_pretrained_minilm_and_trains_only_adapters_and_head() -> None:
    pytest.importorskip("transformers")
    from src.data.resolvers import minilm_dir
    from src.networks.pretrained_text import PretrainedTextClassifier

    torch.manual_seed(0)
    net = PretrainedTextClassifier(minilm_dir(), num_outputs=2).eval()
    tokens, lengths = torch.randint(1000, 2000, (2, 7)), torch.tensor([7, 4])
    with torch.no_grad():
        before = net(tokens, lengths)
    queries = "backbone.encoder.layer.*.attention.self.query"
    values = "backbone.encoder.layer.*.attention.self.value"
    lora = LoRA(rank=4, target_modules=[queries, values])
    Transfer(lora=lora, trainable=["head.*"]).apply(net)
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n or n.startswith("head.") for n in trainable)
    assert sum(".lora_" in n for n in trainable) == 6 * 2 * 2  # 6 layers, q and v, A and B
    with torch.no_grad():  # B starts at zero: the adapted encoder computes what it did
        torch.testing.assert_close(net(tokens, lengths), before)
