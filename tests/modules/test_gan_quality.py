"""FID/KID over a framework-trained classifier: ~0 for real vs real, errors name the key."""

from pathlib import Path
from types import SimpleNamespace

import hydra
import pytest
import torch

from src.errors import ConfigError
from src.modules.gan_quality import ImageQuality, fid_kid, load_classifier
from src.networks.cnn import LeNet
from tests.conftest import Compose
from tests.modules.gan_helpers import digits_classifier


def lenet(shape: tuple[int, int, int] = (1, 8, 8)) -> LeNet:
    return LeNet(list(shape), 10, [32, 64], hidden=128, dropout=0.25, batchnorm=True)


def digits(compose_cfg: Compose) -> torch.Tensor:
    """The digits training split, normalised to [0, 1] as experiment=digits_gan serves it."""
    cfg = compose_cfg("experiment=digits_gan", "model.fid_classifier=null")
    datamodule = hydra.utils.instantiate(cfg.dataset)
    datamodule.setup("fit")
    offset, scale = datamodule.stats["x"]
    return (datamodule.splits["train"]["x"] - offset) / scale


def test_fid_of_real_against_the_same_real_images_is_zero(compose_cfg: Compose) -> None:
    x = digits(compose_cfg)
    classifier = load_classifier(digits_classifier(), lenet())
    classifier.bind(torch.tensor(0.0), torch.tensor(16.0))  # [0, 1] -> raw digits 0..16
    fid, kid = ImageQuality(classifier, kid_subset_size=100).metrics(keep_real=True)
    for metric in (fid, kid):
        metric.update(x, real=True)
        metric.update(x, real=False)
    same_fid, same_kid = fid_kid(fid, kid)
    assert abs(float(same_fid)) < 1e-2 and abs(float(same_kid)) < 1e-2
    for metric in (fid, kid):  # keeps the real features, forgets the fakes
        metric.reset()
        metric.update(torch.rand_like(x), real=False)
    noise_fid, noise_kid = fid_kid(fid, kid)
    assert float(noise_fid) > 1.0 and float(noise_kid) > 0.01


def test_no_classifier_checkpoint_says_which_key_and_how_to_train_one() -> None:
    with pytest.raises(ConfigError, match=r"model.fid_classifier=None.*python run.py"):
        load_classifier(None, lenet())


def test_a_missing_checkpoint_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.fid_classifier=.*nothing.ckpt.*existing"):
        load_classifier(str(tmp_path / "nothing.ckpt"), lenet())


def test_a_classifier_of_other_data_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model.fid_classifier=.*trained on this data set"):
        load_classifier(digits_classifier(), lenet((1, 28, 28)))


def test_training_without_a_classifier_fails_before_any_work(compose_cfg: Compose) -> None:
    from src.experiments import build

    with pytest.raises(ConfigError, match=r"model.fid_classifier=None.*python run.py"):
        build.module(compose_cfg("experiment=digits_gan"))


def test_a_classifier_of_other_classes_is_refused() -> None:
    classifier = load_classifier(digits_classifier(), lenet())
    other = SimpleNamespace(stats={}, class_names=[f"letter_{i}" for i in range(10)])
    with pytest.raises(ConfigError, match=r"model.fid_classifier=.*letter_0"):
        ImageQuality(classifier).bind(other, "clf.ckpt")
