"""Attributions of one input with Captum, in the input's own units (before normalisation).

Every method explains ``forward``: raw input (N, ...) -> two or more class logits, so an
attribution of the value of pixel (h, w) is that of its value as the user holds it.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from src.errors import ConfigError, UserError

Forward = Callable[..., torch.Tensor]  # (raw input, *the model's other inputs) -> logits
CONV = {"image": nn.Conv2d, "signal": nn.Conv1d}
# what applies to each kind of input, in the order they are computed and shown
METHODS = {
    "image": ("integrated_gradients", "saliency", "grad_cam", "occlusion"),
    "signal": ("integrated_gradients", "saliency", "grad_cam", "occlusion"),
    "table": ("integrated_gradients", "saliency", "feature_ablation", "permutation"),
    "tokens": ("integrated_gradients",),
}


def captum_attr() -> Any:
    """``captum.attr``, or one line saying how to install it."""
    try:
        import captum.attr
    except ImportError as e:
        raise UserError(
            "mode=explain needs Captum: pip install -e '.[explain]' (captum==0.9.0)"
        ) from e
    return captum.attr


def kind_of(x: torch.Tensor) -> str:
    """``tokens`` (integer ids), ``table`` (N, F), ``signal`` (N, C, L), ``image`` (N, C, H, W)."""
    if not x.is_floating_point() and x.dtype != torch.uint8:
        return "tokens"
    kinds = {2: "table", 3: "signal", 4: "image"}
    if x.ndim not in kinds:
        raise ConfigError("explain.input", list(x.shape[1:]), "a row, a signal or an image")
    return kinds[x.ndim]


def chosen_methods(
    asked: list[str] | None, kind: str, net: nn.Module, layer: str | None = None
) -> list[str]:
    """``asked``, checked against what applies to ``kind``; None: all that apply (Grad-CAM only
    when the network has a convolution)."""
    applicable = METHODS[kind]
    if asked is None:
        return [m for m in applicable if m != "grad_cam" or last_layer(net, CONV[kind]) is not None]
    for method in asked:
        if method not in applicable:
            raise ConfigError(
                "explain.methods", method, f"for {kind} inputs, some of {', '.join(applicable)}"
            )
    if "grad_cam" in asked and layer is None:
        layer_of(net, None, CONV[kind], "grad_cam")  # no convolution: says so, names the fix
    return list(asked)


def last_layer(net: nn.Module, kind: type[nn.Module]) -> nn.Module | None:
    found = [m for m in net.modules() if isinstance(m, kind)]
    return found[-1] if found else None


def layer_of(net: nn.Module, name: str | None, kind: type[nn.Module], purpose: str) -> nn.Module:
    """The module called ``name`` in ``net``, or (None) its last layer of type ``kind``."""
    if name is not None:
        try:
            return net.get_submodule(name)
        except AttributeError as e:
            names = [n for n, m in net.named_modules() if isinstance(m, kind)]
            raise ConfigError("explain.layer", name, f"a layer of the model, e.g. {names}") from e
    layer = last_layer(net, kind)
    if layer is None:
        raise ConfigError(
            "explain.methods",
            purpose,
            f"a model with a {kind.__name__} layer; {type(net).__name__} has none",
            "leave grad_cam out of explain.methods (or explain.methods=null), or name a layer "
            "with explain.layer",
        )
    return layer


def attribute(
    method: str, forward: Forward, x: torch.Tensor, target: torch.Tensor, **opts: Any
) -> torch.Tensor:
    """``method``'s attributions of ``x`` (N, ...) for the classes ``target`` (N,), shaped like
    ``x`` (tokens: (N, T), one score per token). ``opts["others"]``: the model's other inputs
    for these samples (e.g. sequence lengths), passed to ``forward`` unchanged."""
    attr = captum_attr()
    x = x if x.dtype != torch.uint8 else x.float()
    others = opts.get("others", ())
    if method == "integrated_gradients" and opts["kind"] == "tokens":
        return token_attributions(forward, x, target, opts, others)
    if method == "integrated_gradients":
        explainer = attr.IntegratedGradients(forward)
        kwargs = {"baselines": opts["baseline"], "n_steps": opts["steps"]}
    elif method == "saliency":
        explainer, kwargs = attr.Saliency(forward), {"abs": True}
    elif method == "grad_cam":
        return grad_cam(forward, x, target, opts, others)
    elif method == "occlusion":
        explainer = attr.Occlusion(forward)
        window = (x.shape[1], *[opts["window"]] * (x.ndim - 2))  # all channels at once
        kwargs = {"sliding_window_shapes": window, "baselines": opts["baseline"]}
    elif method == "feature_ablation":
        explainer, kwargs = attr.FeatureAblation(forward), {"baselines": opts["baseline"]}
    else:
        raise ConfigError("explain.methods", method, "a per-sample attribution method")
    return explainer.attribute(x, target=target, additional_forward_args=others, **kwargs).detach()


def grad_cam(
    forward: Forward,
    x: torch.Tensor,
    target: torch.Tensor,
    opts: dict[str, Any],
    others: tuple[torch.Tensor, ...],
) -> torch.Tensor:
    """Grad-CAM of the last convolution (or ``name``), upsampled to the input: (N, 1, *spatial)
    repeated over the input's channels."""
    attr = captum_attr()
    kind = opts["kind"]
    layer = layer_of(opts["net"], opts["layer"], CONV[kind], "grad_cam")
    cam = attr.LayerGradCam(forward, layer).attribute(
        x, target=target, additional_forward_args=others, relu_attributions=True
    )
    mode = "bilinear" if kind == "image" else "linear"
    cam = attr.LayerAttribution.interpolate(cam.detach(), tuple(x.shape[2:]), mode)
    return cam.expand_as(x).clone()


def token_attributions(
    forward: Forward,
    tokens: torch.Tensor,
    target: torch.Tensor,
    opts: dict[str, Any],
    others: tuple[torch.Tensor, ...],
) -> torch.Tensor:
    """Integrated gradients through the embedding layer (ids are not differentiable), from an
    all-zero-id baseline, summed over the embedding: (N, T), one score per token."""
    attr = captum_attr()
    layer = layer_of(opts["net"], opts["layer"], nn.Embedding, "integrated_gradients on tokens")
    explainer = attr.LayerIntegratedGradients(forward, layer)
    scores = explainer.attribute(
        tokens,
        baselines=torch.zeros_like(tokens),
        target=target,
        additional_forward_args=others,
        n_steps=opts["steps"],
    )
    return scores.detach().sum(-1)  # (N, T, D) -> (N, T)


def permutation_importance(
    forward: Forward, x: torch.Tensor, target: torch.Tensor, repeats: int = 5, seed: int = 0
) -> torch.Tensor:
    """(F,) the accuracy lost when a feature's column is shuffled across the rows of ``x``
    (N, F), averaged over ``repeats`` shuffles (Breiman, 2001)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        clean = (forward(x).argmax(-1) == target).float().mean()
        drops = torch.zeros(x.shape[1])
        for j in range(x.shape[1]):
            for _ in range(repeats):
                shuffled = x.clone()
                shuffled[:, j] = x[torch.randperm(len(x), generator=generator), j]
                drops[j] += clean - (forward(shuffled).argmax(-1) == target).float().mean()
    return drops / repeats
