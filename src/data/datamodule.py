"""One LightningDataModule for every data set that fits in memory."""

from collections.abc import Callable, Mapping
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from src.data import fingerprint
from src.data.augment import BatchAugment
from src.data.loader import Batch, TensorLoader, to_device
from src.data.sources import Arrays, FittedSource, Inputs
from src.errors import ConfigError

TASKS = ("multiclass", "binary", "regression")
# what setup() serves: the three splits, or for mode=predict every row of the source ("all")
PREDICT_SPLITS = ("train", "val", "test", "all")


class InMemoryDataModule(pl.LightningDataModule):
    """Loads a source once, splits it (seeded; stratified for classes), normalises it with
    train-split statistics and serves batches of named tensors: the inputs and ``target``.

    The preprocessing it learns from the training split (per-input offset and scale, class
    names) is its :meth:`state_dict`, which Lightning saves in every checkpoint. Loaded back
    (:meth:`load_state_dict`, before :meth:`setup`), it is used instead of being recomputed:
    evaluating or predicting from a checkpoint applies exactly the training run's pipeline,
    and ``predict_split=all`` needs no training data at all.

    The declared ``input_shape``/``num_classes``/``task`` are what networks are built from (by
    config interpolation); :meth:`setup` checks them against the loaded data.

    Args:
        source: callable returning :class:`~src.data.sources.Arrays`.
        input_shape: shape of one sample, e.g. [1, 8, 8]; ``{name: shape}`` for named inputs.
        num_classes: number of classes (null for regression).
        task: ``multiclass``, ``binary`` or ``regression``.
        num_outputs: units of the network's last layer (num_classes, 1 for binary).
        batch_size: samples per batch and process.
        val_fraction: share of the training data held out for validation.
        test_fraction: share held out for testing when the source has no test split.
        normalize: ``standard`` (per-channel mean/std of the train split), ``minmax``, ``none``.
        sampler: ``uniform``, ``weighted`` (draw every class equally often) or ``poisson``
            (each sample joins each step independently: DP-SGD's sampling, one process).
        seed: seed of the split and of the shuffling.
        augment: batch augmentation applied to the floating-point inputs of training batches.
        pin_memory: serve batches in page-locked memory (faster copies to a CUDA device).
        predict_split: the split ``predict_dataloader`` serves; ``all``: every row the source
            returns, unsplit (new data to predict with a trained model's preprocessing).
        folds: k-fold cross-validation (``cv.folds``): the rows left after the test split are
            cut into ``folds`` parts (stratified for classes, seeded), part ``fold`` is the
            validation split and the others the training split; None: ``val_fraction``.
        fold: the part held out for validation, 0 .. folds - 1.
        partition: federated training (``mode=federated``): the training rows one simulated
            client holds, from the training split's labels; None: all of them.
    """

    def __init__(
        self,
        source: Callable[[], Arrays],
        input_shape: list[int] | Mapping[str, list[int]],
        num_classes: int | None,
        task: str,
        num_outputs: int,
        batch_size: int = 64,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        normalize: str = "standard",
        sampler: str = "uniform",
        seed: int = 42,
        augment: BatchAugment | None = None,
        pin_memory: bool = False,
        predict_split: str = "test",
        folds: int | None = None,
        fold: int | None = None,
        partition: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ConfigError("dataset.task", task, "one of " + ", ".join(TASKS))
        if predict_split not in PREDICT_SPLITS:
            raise ConfigError("predict.split", predict_split, "one of " + ", ".join(PREDICT_SPLITS))
        self.source = source
        shapes = input_shape if isinstance(input_shape, Mapping) else {"x": input_shape}
        self.input_shapes = {k: tuple(v) for k, v in shapes.items()}
        self.num_classes, self.task, self.num_outputs = num_classes, task, num_outputs
        self.batch_size, self.val_fraction = batch_size, val_fraction
        self.test_fraction, self.normalize, self.sampler = test_fraction, normalize, sampler
        self.seed, self.pin_memory, self.predict_split = seed, pin_memory, predict_split
        self.folds, self.fold, self.partition = folds, fold or 0, partition
        self.augment = augment if augment is not None and augment.active else None
        self.splits: dict[str, Batch] = {}
        # per input: (offset, scale) from the train split (None: served as is, e.g. token ids)
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._stats_loaded = False
        self.class_names: list[str] = [str(i) for i in range(num_classes or 0)]

    # ---- preprocessing state: saved in every checkpoint by Lightning ----------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"stats": dict(self.stats), "class_names": list(self.class_names)}
        if isinstance(self.source, FittedSource):  # e.g. a table's columns, categories, fill values
            state["source"] = self.source.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict:
            return
        self.stats = {k: (o, s) for k, (o, s) in state_dict["stats"].items()}
        self.class_names = list(state_dict["class_names"])
        if "source" in state_dict and isinstance(self.source, FittedSource):
            self.source.load_state_dict(state_dict["source"])
        self._stats_loaded = True

    # ---- loading -----------------------------------------------------------------------------
    def prepare_data(self) -> None:
        self.source()  # downloads/generates once, on rank 0 only

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = self.source()
        if isinstance(self.source, FittedSource) and not self._stats_loaded:
            self.source.fit(self._split_all(_row_numbers(data))["train"]["x"])
            data = self.source()  # encoded with what was learned from the training rows
        self._check(data)
        if data.class_names and not self._stats_loaded:
            self.class_names = list(data.class_names)
        if stage == "predict" and self.predict_split == "all":
            raw = {"all": _concat(data)}
        else:
            raw = self._split_all(data)
        if not self._stats_loaded:  # from the training split only: nothing leaks
            self.stats = self._stats(raw.get("train", raw.get("all", {})))
        if self.partition is not None and "train" in raw:  # a federated client's rows; the
            held = self.partition(raw["train"]["target"])  # statistics are the federation's
            raw["train"] = {k: v[held] for k, v in raw["train"].items()}
        self.splits = {k: self._tensors(v) for k, v in raw.items()}

    def _split_all(self, data: Arrays) -> dict[str, Inputs]:
        rows = data.inputs | {"target": data.y}
        if data.test_inputs is None or data.y_test is None:
            rows, test = self._split(rows, self.test_fraction)
        else:
            test = data.test_inputs | {"target": data.y_test}
        if self.folds:
            train, val = self._fold(rows, self.folds)
        else:
            train, val = self._split(rows, self.val_fraction)
        return {"train": train, "val": val, "test": test}

    def _fold(self, rows: Inputs, folds: int) -> tuple[Inputs, Inputs]:
        """Part ``fold`` of ``folds`` (the validation split) and the rest (the training split)."""
        if not 0 <= self.fold < folds:
            raise ConfigError("cv.fold", self.fold, f"an integer in [0, {folds})")
        y = rows["target"]
        if self.task == "regression":
            splitter: KFold = KFold(folds, shuffle=True, random_state=self.seed)
        else:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
        keep, held = list(splitter.split(np.zeros(len(y)), y))[self.fold]
        return {k: v[keep] for k, v in rows.items()}, {k: v[held] for k, v in rows.items()}

    def _split(self, rows: Inputs, fraction: float) -> tuple[Inputs, Inputs]:
        n = len(rows["target"])
        if fraction <= 0:
            return rows, {k: v[:0] for k, v in rows.items()}
        stratify = rows["target"] if self.task != "regression" else None
        keep, held = train_test_split(
            np.arange(n), test_size=fraction, stratify=stratify, random_state=self.seed
        )
        return {k: v[keep] for k, v in rows.items()}, {k: v[held] for k, v in rows.items()}

    def _check(self, data: Arrays) -> None:
        inputs = data.inputs
        if set(inputs) != set(self.input_shapes):
            raise ConfigError(
                "dataset.input_shape",
                {k: list(v) for k, v in self.input_shapes.items()},
                f"one shape per input the source returns: {sorted(inputs)}",
            )
        for name, array in inputs.items():
            shape = tuple(array.shape[1:])
            if shape != self.input_shapes[name]:
                key = "dataset.input_shape" + ("" if list(inputs) == ["x"] else f".{name}")
                raise ConfigError(
                    key,
                    list(self.input_shapes[name]),
                    f"the loaded data's sample shape {list(shape)}",
                    f"set {key}={list(shape)}",
                )
        if self.task != "regression":
            _check_labels(data, self.num_classes or 0)

    def _stats(self, train: Inputs) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {
            k: tuple(torch.from_numpy(a) for a in _offset_scale(x, self.normalize))  # type: ignore[misc]
            for k, x in train.items()
            if k != "target" and (np.issubdtype(x.dtype, np.floating) or x.dtype == np.uint8)
        }

    def _tensors(self, rows: Inputs) -> Batch:
        out = {}
        for k, x in rows.items():
            if k in self.stats and np.issubdtype(x.dtype, np.floating):
                offset, scale = (t.numpy() for t in self.stats[k])
                x = ((x - offset) / scale).astype(np.float32)
            elif k == "target":
                x = x.astype(np.float32 if self.task == "regression" else np.int64)
            # 8-bit images stay 8-bit in memory (CIFAR-10: 150 MB instead of 600 MB) and are
            # normalised per batch on the device, in on_after_batch_transfer
            out[k] = torch.from_numpy(np.ascontiguousarray(x))
        return out

    def fingerprint(self) -> dict[str, str]:
        """``{split: digest}`` of the tensors set up (after preprocessing), for provenance."""
        return {k: fingerprint.of_tensors(v) for k, v in self.splits.items()}

    # ---- serving -----------------------------------------------------------------------------
    @property
    def class_counts(self) -> torch.Tensor:
        """Samples per class in the training split, shape (num_classes,)."""
        if self.task == "regression":
            raise ConfigError("dataset.sampler", self.sampler, "uniform for a regression task")
        return torch.bincount(self.splits["train"]["target"], minlength=self.num_classes or 0)

    def _loader(self, split: str, train: bool = False) -> TensorLoader:
        weights = None
        if train and self.sampler == "weighted":
            weights = (1.0 / self.class_counts.clamp(min=1).float())[self.splits[split]["target"]]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        return TensorLoader(
            self.splits[split],
            self.batch_size,
            shuffle=train,
            drop_last=False,
            weights=weights,
            seed=self.seed,
            rank=rank,
            world_size=world,
            pin_memory=self.pin_memory,
            even_shards=train,  # evaluation and prediction see every sample of their split
            poisson=train and self.sampler == "poisson",
        )

    def train_dataloader(self) -> TensorLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> TensorLoader:
        return self._loader("val")

    def test_dataloader(self) -> TensorLoader:
        return self._loader("test")

    def predict_dataloader(self) -> TensorLoader:
        return self._loader(self.predict_split)

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, idx: int) -> Batch:
        return to_device(batch, device)

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        training = self.augment is not None and self.trainer is not None and self.trainer.training
        for k, x in batch.items():
            if x.dtype == torch.uint8 and k in self.stats:  # (B, C, H, W) -> normalised float
                offset, scale = (t.to(x.device, non_blocking=True) for t in self.stats[k])
                x = batch[k] = (x.float() - offset) / scale
            if training and k != "target" and x.is_floating_point():
                batch[k] = self.augment(x)  # type: ignore[misc]
        return batch


def _concat(data: Arrays) -> Inputs:
    rows = data.inputs | {"target": data.y}
    if data.test_inputs is None or data.y_test is None:
        return rows
    test = data.test_inputs | {"target": data.y_test}
    return {k: np.concatenate([v, test[k]]) for k, v in rows.items()}


def _row_numbers(data: Arrays) -> Arrays:
    """The data's row numbers with its targets: split like the data, they name the rows of each
    split (``x``'s rows first, then ``x_test``'s)."""
    n = len(data.y)
    test = None if data.y_test is None else np.arange(n, n + len(data.y_test))
    return Arrays(np.arange(n), data.y, test, data.y_test)


def _check_labels(data: Arrays, num_classes: int) -> None:
    labels = [data.y] + ([] if data.y_test is None else [data.y_test])
    if not all(np.issubdtype(y.dtype, np.integer) for y in labels):
        raise ConfigError(
            "dataset.task",
            "classification",
            "integer class labels",
            "set dataset.task=regression for a numeric target",
        )
    found = int(max(y.max(initial=-1) for y in labels)) + 1
    if found > num_classes:
        raise ConfigError(
            "dataset.num_classes",
            num_classes,
            f"at least {found} (labels go up to {found - 1})",
            f"set dataset.num_classes={found}",
        )


def _offset_scale(x: np.ndarray, normalize: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (per-feature for rows) offset and scale, float32, broadcastable to x."""
    axes = (0,) if x.ndim == 2 else (0, *range(2, x.ndim))
    if normalize == "standard":
        mean = _chunked_mean(x, axes)
        std = np.sqrt(_chunked_mean(x, axes, center=mean))
        offset, scale = mean, np.where(std > 0, std, 1.0)
    elif normalize == "minmax":
        lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
        offset, scale = lo, np.where(hi > lo, hi - lo, 1.0)
    else:
        shape = (1,) * x.ndim
        offset, scale = np.zeros(shape), np.ones(shape)
    return offset.astype(np.float32), scale.astype(np.float32)


def _chunked_mean(
    x: np.ndarray, axes: tuple[int, ...], center: np.ndarray | None = None
) -> np.ndarray:
    """Mean of x (or of (x - center)^2) over axes, in float64 chunks: no full-size float copy."""
    total = np.zeros([1 if a in axes else n for a, n in enumerate(x.shape)])
    for start in range(0, len(x), 4096):
        chunk = x[start : start + 4096].astype(np.float64)
        if center is not None:
            chunk = (chunk - center) ** 2
        total += chunk.sum(axis=axes, keepdims=True)
    return total / max(1, x.size // total.size)
