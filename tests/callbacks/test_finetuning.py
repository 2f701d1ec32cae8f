"""FreezeUnfreeze: frozen modules join the optimizer at a lower rate at the chosen epoch."""

import lightning.pytorch as pl
import pytest
import torch

from src.callbacks.finetuning import FreezeUnfreeze
from src.errors import ConfigError
from src.networks.cnn import LeNet


class Wrapper(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = LeNet([1, 8, 8], 5, [8, 16], hidden=16)


def test_frozen_until_the_epoch_then_added_at_the_lower_rate() -> None:
    module, callback = Wrapper(), FreezeUnfreeze(["net.features"], unfreeze_at_epoch=2)
    callback.freeze_before_training(module)
    conv, bn = module.net.features[0], module.net.features[1]
    assert not conv.weight.requires_grad and bn.weight.requires_grad  # batch norm still trains
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=0.01)
    callback.finetune_function(module, 1, optimizer)
    assert len(optimizer.param_groups) == 1
    callback.finetune_function(module, 2, optimizer)
    assert len(optimizer.param_groups) == 2 and optimizer.param_groups[1]["lr"] == pytest.approx(
        0.001
    )
    assert all(p.requires_grad for p in module.parameters())
    callback.finetune_function(module, 3, optimizer)  # nothing is added twice
    assert len(optimizer.param_groups) == 2


def test_unknown_module_names_list_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"callbacks.freeze.modules.*net.features"):
        FreezeUnfreeze(["net.backbone"]).freeze_before_training(Wrapper())
    with pytest.raises(ConfigError, match=r"callbacks.freeze.lr_factor"):
        FreezeUnfreeze(["net.features"], lr_factor=0)
