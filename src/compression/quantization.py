"""Post-training int8 quantisation: dynamic (Linear/LSTM/GRU) and static PT2E (CNNs, with a
calibration pass), and the PT2E quantisation-aware fine-tuning.

Dynamic quantisation has two backends behind one switch. ``eager`` is
``torch.ao.quantization.quantize_dynamic``: deprecated, but the fastest here in eager mode;
``torchao`` is ``Int8DynamicActivationInt8WeightConfig``, the maintained API, whose speed-ups
assume ``torch.compile`` (bench/compression.py measures both; the figures are in
bench/RESULTS.md).
"""

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from src.compression.transform import COMPRESSED, Context, Inputs, compression_info
from src.errors import ConfigError, UserError

log = logging.getLogger(__name__)
DYNAMIC_LAYERS = {"Linear": nn.Linear, "LSTM": nn.LSTM, "GRU": nn.GRU}
BACKENDS = ("eager", "torchao")
EXTRA = "pip install -e '.[compression]'"


def dynamic_targets(net: nn.Module, layers: list[str], backend: str = "eager") -> set[str]:
    """Names of the submodules to quantise; those inside TransformerEncoderLayers are left
    out: quantised, they break the layer's eval fast path in torch 2.14 (it reads
    ``linear1.weight`` as a tensor)."""
    unknown = [n for n in layers if n not in DYNAMIC_LAYERS]
    if unknown:
        raise ConfigError(
            "compression.transform.method.layers", layers, f"names among {list(DYNAMIC_LAYERS)}"
        )
    kinds = tuple(DYNAMIC_LAYERS[n] for n in layers if backend == "eager" or n == "Linear")
    skip = {
        f"{owner}.{name}" if owner else name
        for owner, m in net.named_modules()
        if isinstance(m, nn.TransformerEncoderLayer)
        for name, _ in m.named_modules()
    }
    if skip:
        log.info(
            "quantize_dynamic: leaving %d layers of TransformerEncoderLayers in float", len(skip)
        )
    found = {n for n, m in net.named_modules() if isinstance(m, kinds) and n not in skip}
    found -= {""}
    if not found and not isinstance(net, kinds):
        raise ConfigError(
            "compression",
            "quantize_dynamic",
            f"a network with {layers} layers ({backend} backend); {type(net).__name__} has none",
            "use compression=quantize_static for convolutional networks, or prune_*",
        )
    return found


def quantize_dynamic(
    net: nn.Module,
    context: Context | None = None,
    *,
    backend: str = "eager",
    layers: tuple[str, ...] = ("Linear", "LSTM", "GRU"),
) -> nn.Module:
    """int8 weights, activations quantised on the fly, for ``layers`` of ``net`` (CPU)."""
    if backend not in BACKENDS:
        raise ConfigError("compression.transform.method.backend", backend, f"one of {BACKENDS}")
    targets = dynamic_targets(net, list(layers), backend)
    if context is not None:
        context.info |= {"backend": backend, "layers": list(layers)}
    if backend == "eager":
        spec = {n: torch.ao.quantization.default_dynamic_qconfig for n in targets}
        return torch.ao.quantization.quantize_dynamic(net, spec, dtype=torch.qint8)
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError as e:
        raise UserError(f"the torchao backend needs torchao: {EXTRA}") from e
    quantize_(net, Int8DynamicActivationInt8WeightConfig(), filter_fn=lambda _, n: n in targets)
    return net


def restore_dynamic(
    module: pl.LightningModule, checkpoint: str | None, network: str = "net"
) -> pl.LightningModule:
    """``module`` with its network quantised as the checkpoint's was, ready to load it."""
    info = compression_info(checkpoint, "quantize_dynamic")[0]
    net = quantize_dynamic(
        getattr(module, network).eval(), backend=info["backend"], layers=tuple(info["layers"])
    )
    setattr(module, network, net)
    return module


def _x86_quantizer(is_qat: bool) -> Any:
    try:
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    except ImportError as e:
        raise UserError(f"quantize_static and qat need torchao: {EXTRA}") from e
    return xiq.X86InductorQuantizer().set_global(
        xiq.get_default_x86_inductor_quantization_config(is_qat=is_qat)
    )


def _export(net: nn.Module, example: Inputs) -> nn.Module:
    """``net`` captured by torch.export with a dynamic batch axis, as a GraphModule."""
    batch = torch.export.Dim("batch")
    shapes = {name: {0: batch} for name in example}
    return torch.export.export(net, (), example, dynamic_shapes=shapes).module()


def _trainable(graph: nn.Module) -> nn.Module:
    """An exported graph whose ``train()``/``eval()`` switch dropout and batch norm (Lightning
    calls them; exported graphs refuse them unless told how)."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval

    allow_exported_model_train_eval(graph)  # in place
    return graph


def _used_tensors_only(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """``graph`` without the parameters and buffers none of its nodes reads.

    ``convert_pt2e`` leaves the float weights attached beside their int8 copies, and QAT's
    batch norms beside the convolutions they were folded into; graph passes (such as the
    ``eval()`` of an exported graph) drop some of them later, so the saved state_dict and
    the reloaded graph disagreed (QAT checkpoints failed to load) and the float copies
    counted in the reported size. Dropped here, the graph holds the int8 artefact only.
    """
    used = {node.target for node in graph.graph.nodes if node.op == "get_attr"}
    stored = [
        *(name for name, _ in graph.named_parameters(remove_duplicate=False)),
        *(name for name, _ in graph.named_buffers(remove_duplicate=False)),
    ]
    for name in stored:
        if name not in used:
            owner, _, attr = name.rpartition(".")
            delattr(graph.get_submodule(owner), attr)
    graph.delete_all_unused_submodules()
    return graph


def _load_program(path: str | Path) -> nn.Module:
    """The quantised graph saved at ``path``, trainable and holding only the tensors it uses."""
    return _trainable(_used_tensors_only(torch.export.load(path).module()))


def _save_program(net: torch.fx.GraphModule, context: Context) -> nn.Module:
    """The quantised graph saved beside the compressed checkpoint (a GraphModule cannot be
    rebuilt from a state_dict: the graph itself holds the quantisation steps), and loaded back:
    the model tested and saved is then exactly the one eval and predict load."""
    path = context.output_dir / "checkpoints" / COMPRESSED.replace(".ckpt", ".pt2")
    path.parent.mkdir(parents=True, exist_ok=True)
    example = {k: v[:2] for k, v in context.example.items()}
    batch = torch.export.Dim("batch")
    shapes = {k: {0: batch} for k in example}
    program = torch.export.export(_used_tensors_only(net), (), example, dynamic_shapes=shapes)
    torch.export.save(program, path)
    context.info["program"] = path.name
    return _load_program(path)


def quantize_static(
    net: nn.Module, context: Context, *, calibration_batches: int = 10
) -> nn.Module:
    """int8 weights and activations through PT2E (X86 Inductor quantizer), with activation
    ranges observed on ``calibration_batches`` training batches."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if calibration_batches < 1:
        raise ConfigError(
            "compression.transform.method.calibration_batches",
            calibration_batches,
            "at least 1 training batch to observe activation ranges on",
            "set it to e.g. 10 (static quantisation cannot run without calibration data)",
        )
    prepared = prepare_pt2e(_export(net.eval(), context.example), _x86_quantizer(is_qat=False))
    seen = 0
    with torch.no_grad():
        for inputs in context.train_inputs(calibration_batches):
            prepared(**inputs)
            seen += 1
    if seen == 0:
        raise ConfigError(
            "dataset", "no training batches", "training data to calibrate activation ranges on"
        )
    return _save_program(convert_pt2e(prepared), context)


def qat(net: nn.Module, context: Context, *, epochs: int = 2) -> nn.Module:
    """Quantisation-aware fine-tuning: fake-quantised training for ``epochs`` epochs through
    PT2E (``prepare_qat_pt2e``), then the int8 conversion."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    if epochs < 1:
        raise ConfigError("compression.transform.method.epochs", epochs, "at least 1 epoch")
    prepared = prepare_qat_pt2e(_export(net.train(), context.example), _x86_quantizer(is_qat=True))
    tuned = context.fine_tune(_trainable(prepared), epochs)
    return _save_program(convert_pt2e(move_exported_model_to_eval(tuned)), context)


def restore_program(
    module: pl.LightningModule, checkpoint: str | None, method: str, network: str = "net"
) -> pl.LightningModule:
    """``module`` with its network replaced by the quantised graph saved beside the
    checkpoint (the checkpoint's state_dict then loads into it)."""
    import torchao.quantization.pt2e  # noqa: F401  registers the quantized_decomposed ops

    info = compression_info(checkpoint, method)[0]
    path = f"{checkpoint}".rsplit("/", 1)[0] + "/" + info["program"]
    setattr(module, network, _load_program(path))
    return module
