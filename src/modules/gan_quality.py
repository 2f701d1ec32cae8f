"""Offline image quality of a generator: FID and KID (torchmetrics) over the features of a
classifier trained by this framework on the same data, instead of Inception's (which would
need downloaded weights and 299x299 RGB inputs that 8x8 digits are not).

The features are the input of the classifier's last linear layer (LeNet: its 128-unit hidden
layer). Its logits also say whether a conditional generator drew the class it was asked for.
"""

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from src.errors import ConfigError
from src.utils.checkpoints import verify_checkpoint

KEY = "model.fid_classifier"
TRAIN_ONE = (
    "train a classifier on the same data with `python run.py` (the default experiment, "
    "digits; it writes outputs/<name>/<time>/checkpoints/*.ckpt) and pass "
    "model.fid_classifier=<that .ckpt>"
)


class ClassifierFeatures(nn.Module):
    """A trained classifier seen as a feature extractor: images in the GAN's data space
    (B, C, H, W) -> features (B, F), the input of the classifier's last linear layer.

    Args:
        net: the classifier's network, with its trained weights.
        offset: the classifier run's input offset (its datamodule's normalisation).
        scale: the classifier run's input scale.
        class_names: the classes it was trained on.
    """

    offset: torch.Tensor
    scale: torch.Tensor
    data_offset: torch.Tensor
    data_scale: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        offset: torch.Tensor,
        scale: torch.Tensor,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.class_names = class_names
        self.net = net.eval().requires_grad_(False)
        self.register_buffer("offset", offset.float())
        self.register_buffer("scale", scale.float())
        # the GAN's own normalisation, set by bind(): its data space -> raw pixel values
        self.register_buffer("data_offset", torch.zeros_like(self.offset))
        self.register_buffer("data_scale", torch.ones_like(self.scale))
        last = [m for m in net.modules() if isinstance(m, nn.Linear)]
        if not last:
            raise ConfigError(KEY, "net", "a classifier network ending in a linear layer")
        self.num_features = last[-1].in_features
        self._seen: list[torch.Tensor] = []
        last[-1].register_forward_pre_hook(lambda _, args: self._seen.append(args[0]))

    def bind(self, offset: torch.Tensor, scale: torch.Tensor) -> None:
        """The GAN data's normalisation (its datamodule's offset and scale of ``x``)."""
        self.data_offset = offset.float().to(self.offset.device)
        self.data_scale = scale.float().to(self.scale.device)

    def classify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (B, F), logits (B, classes)) of images in the GAN's data space."""
        raw = x.float() * self.data_scale + self.data_offset
        self._seen.clear()
        self.net.eval()
        # full precision under AMP too: FID's covariances are sensitive to bf16 rounding
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            logits = self.net(x=(raw - self.offset) / self.scale)
        return self._seen.pop().flatten(1).float(), logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(x)[0]


def load_classifier(checkpoint: str | None, net: nn.Module) -> ClassifierFeatures:
    """``net`` with the weights and input normalisation of a classification run's checkpoint.

    Raises:
        ConfigError: no checkpoint named, or one of another network or data set.
    """
    if checkpoint is None:
        raise ConfigError(KEY, None, "the checkpoint of a classifier of the same data", TRAIN_ONE)
    if not Path(checkpoint).is_file():
        raise ConfigError(KEY, checkpoint, "an existing checkpoint file", TRAIN_ONE)
    loaded = verify_checkpoint(checkpoint)
    weights = {k[4:]: v for k, v in loaded["state_dict"].items() if k.startswith("net.")}
    try:
        net.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).splitlines()[1:2]
        raise ConfigError(
            KEY,
            checkpoint,
            "a classifier whose network is model.quality.classifier.net, trained on this "
            f"data set ({' '.join(first).strip()})",
            TRAIN_ONE,
        ) from e
    state = _data_state(loaded)
    stats = state.get("stats", {}).get("x")
    if stats is None:
        raise ConfigError(KEY, checkpoint, "a checkpoint of an image classification run")
    offset, scale = (torch.as_tensor(t) for t in stats)
    return ClassifierFeatures(net, offset, scale, list(state.get("class_names", [])))


def _data_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    # Lightning saves the datamodule's state_dict under its class name
    found = [v for v in checkpoint.values() if isinstance(v, dict) and "stats" in v]
    return found[0] if found else {}


class ImageQuality:
    """FID and KID of generated images against the training split, in the classifier's
    feature space, the real-vs-real floor, and how often conditional samples show their class.

    Not an ``nn.Module``, so the classifier is not saved in the GAN's checkpoints.

    Args:
        classifier: the feature extractor.
        kid_subset_size: samples per KID subset (at most the smallest sample set).
    """

    def __init__(self, classifier: ClassifierFeatures, kid_subset_size: int = 100) -> None:
        self.classifier, self.kid_subset_size = classifier, kid_subset_size
        self.floor: dict[str, torch.Tensor] = {}
        self._metrics: tuple[FrechetInceptionDistance, KernelInceptionDistance] | None = None
        self._hits = torch.zeros(2)  # (samples classified as their class, samples)

    def metrics(self, keep_real: bool) -> tuple[FrechetInceptionDistance, KernelInceptionDistance]:
        """Fresh FID and KID over the classifier's features, on its device."""
        device = self.classifier.offset.device
        fid = FrechetInceptionDistance(self.classifier, reset_real_features=not keep_real)
        kid = KernelInceptionDistance(
            self.classifier, subset_size=self.kid_subset_size, reset_real_features=not keep_real
        )
        return fid.to(device), kid.to(device)

    def bind(self, datamodule: Any, checkpoint: str | None) -> None:
        """Read the GAN data's normalisation; refuse a classifier of other classes."""
        stats = getattr(datamodule, "stats", {}).get("x")
        if stats is not None:
            self.classifier.bind(*stats)
        names = getattr(datamodule, "class_names", None)
        if names is not None and list(names) != self.classifier.class_names:
            raise ConfigError(
                KEY,
                checkpoint,
                f"a classifier of this data set's classes {list(names)}, "
                f"not of {self.classifier.class_names}",
                "train the classifier on the same dataset= as the GAN",
            )

    def start(self, datamodule: Any, device: torch.device) -> None:
        """Before an evaluation epoch: the training split's features and the floor (the real
        test split against them) the first time, then no generated images yet."""
        self.classifier.to(device)
        if self._metrics is None:
            self._metrics = self.metrics(keep_real=True)
            self._feed(datamodule, datamodule.train_dataloader(), real=True)
            self._feed(datamodule, datamodule.test_dataloader(), real=False)
            fid, kid = fid_kid(*self._metrics)
            self.floor = {"fid_floor": fid, "kid_floor": kid}
        for metric in self._metrics:
            metric.reset()  # keeps the real features
        self._hits = torch.zeros(2, device=device)

    def _feed(self, datamodule: Any, loader: Any, real: bool) -> None:
        device = self.classifier.offset.device
        for batch in loader:  # served as in evaluation: normalised, not augmented
            batch = datamodule.transfer_batch_to_device(batch, device, 0)
            x = datamodule.on_after_batch_transfer(batch, 0)["x"]
            for metric in self._metrics or ():
                metric.update(x, real=real)

    def update(self, fake: torch.Tensor, y: torch.Tensor | None) -> None:
        """Generated images (B, C, H, W) and, when conditional, the classes asked for (B,)."""
        for metric in self._metrics or ():
            metric.update(fake, real=False)
        if y is not None:
            predicted = self.classifier.classify(fake)[1].argmax(1)
            self._hits += torch.stack([(predicted == y).sum(), y.new_tensor(len(y))])

    def compute(self, strategy: Any) -> dict[str, torch.Tensor]:
        """``fid``, ``kid``, their floors and, when conditional, ``class_acc``, over all ranks."""
        if self._metrics is None:
            raise RuntimeError("ImageQuality.compute before start")
        fid, kid = fid_kid(*self._metrics)
        values = {"fid": fid, "kid": kid, **self.floor}
        hits = strategy.reduce(self._hits, reduce_op="sum")
        if hits[1] > 0:
            values["class_acc"] = hits[0] / hits[1]
        return values


def fid_kid(
    fid: FrechetInceptionDistance, kid: KernelInceptionDistance
) -> tuple[torch.Tensor, torch.Tensor]:
    """FID and mean KID; KID's subsets shrink to the smallest sample set."""
    n = min(_rows(kid.real_features), _rows(kid.fake_features))
    subset = kid.subset_size
    kid.subset_size = min(subset, n)
    try:
        return fid.compute(), kid.compute()[0]
    finally:
        kid.subset_size = subset


def _rows(features: Any) -> int:
    # a list of (B, F) batches, or one (N, F) tensor once synced across ranks
    return len(features) if isinstance(features, torch.Tensor) else sum(len(f) for f in features)
