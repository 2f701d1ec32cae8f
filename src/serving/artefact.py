"""An exported model folder (``mode=export``'s ``model.json`` + files) loaded for serving."""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from src.errors import UserError
from src.export.card import FORMAT_VERSION

Arrays = dict[str, np.ndarray]
BACKENDS = ("onnx", "pt2")


@dataclass
class InputSpec:
    """One input of the exported graph: its name, dtype and per-sample shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass
class Artefact:
    """A loaded export: ``run`` maps named input arrays (N, ...) to the output (N, ...)."""

    folder: Path
    card: dict[str, Any]
    inputs: list[InputSpec]
    run: Callable[[Arrays], np.ndarray]
    backend: str

    @property
    def class_names(self) -> list[str]:
        return list(self.card.get("class_names") or [])

    @property
    def task(self) -> str | None:
        return self.card.get("task")


def load(folder: str | Path, backend: str = "onnx") -> Artefact:
    """The export in ``folder`` on ``backend`` (``onnx``: ONNX Runtime, ``pt2``: torch).

    Raises:
        UserError: naming the folder and what is wrong: not an export, a newer format, a file
            that is missing or does not load, a backend without its file.
    """
    root = Path(folder).expanduser()
    card_file = root / "model.json"
    if not card_file.is_file():
        raise UserError(
            f"serve.artefact={folder}: no model.json there. Fix: point it at the export folder "
            "that `python run.py mode=export ckpt_path=<file>` wrote (<run dir>/export)"
        )
    try:
        card = json.loads(card_file.read_text())
        version = int(card["format_version"])
        inputs = [InputSpec(i["name"], i["dtype"], tuple(i["shape"][1:])) for i in card["inputs"]]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{card_file} is damaged ({e!r}). Fix: export the checkpoint again") from e
    if version > FORMAT_VERSION:
        raise UserError(
            f"{card_file} has format version {version}; this version of hydralit reads up to "
            f"{FORMAT_VERSION}. Fix: upgrade hydralit, or export with this version"
        )
    if backend not in card.get("files", {}):
        raise UserError(
            f"serve.backend={backend}: {root} has no {backend} file (it has "
            f"{', '.join(card.get('files', {})) or 'none'}). Fix: export with "
            f"export.formats=[{backend}], or set serve.backend to one it has"
        )
    path = root / card["files"][backend]
    runner = _onnx(path) if backend == "onnx" else _pt2(path, inputs)
    return Artefact(root, card, inputs, runner, backend)


def _onnx(path: Path) -> Callable[[Arrays], np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise UserError("serving ONNX needs onnxruntime. Fix: pip install 'hydralit[serve]'") from e
    options = ort.SessionOptions()
    # threads as torch is told (OMP_NUM_THREADS); no busy-waiting between calls, which steals
    # the cores that parse and answer requests
    options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # CUDA where the onnxruntime-gpu package provides it, else the CPU
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
    providers = [p for p in wanted if p in ort.get_available_providers()]
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as e:
        raise UserError(f"{path} does not load in ONNX Runtime ({e}). Fix: export it again") from e

    def run(arrays: Arrays) -> np.ndarray:
        return np.asarray(session.run(None, arrays)[0])

    return run


def _pt2(path: Path, inputs: list[InputSpec]) -> Callable[[Arrays], np.ndarray]:
    import torch

    try:
        program = torch.export.load(str(path)).module()
    except Exception as e:
        raise UserError(f"{path} does not load with torch.export ({e}). Fix: export again") from e

    def run(arrays: Arrays) -> np.ndarray:
        with torch.no_grad():
            out = program(*(torch.from_numpy(arrays[spec.name]) for spec in inputs))
        return out.numpy()

    return run
