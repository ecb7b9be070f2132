"""What the CAM family shares: a layer's activations, the score's gradient there, upsampling."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_cam_net
from ..models._evaluation_mode import observe_logits
from ._score import class_score, resolve_target


def head_logits(model: nn.Module, features: Tensor) -> Tensor:
    """Logits ``(B, n_c)`` of the net's head: global average pooling of ``features`` then ``model.classifier``.

    They bypass ``model.forward``, so they go to the output check of an enclosing attribution or attack themselves.
    """
    return observe_logits(model, model.classifier(torch.flatten(features.mean(dim=(2, 3)), 1)))


def layer_activations(model: nn.Module, x: Tensor, layer: str | None) -> tuple[Tensor, Tensor]:
    """``(logits (B, n_c), activations (B, K, h, w))`` of one forward pass.

    ``layer=None`` takes the net's ``features(x)`` (followed by its GAP + linear head); a
    dotted module name takes that module's output during ``model(x)``.
    """
    if layer is None:
        check_cam_net(
            model, method="gradcam/gradcampp at the default layer (layer=None)", alternative="name a module with layer='...'"
        )
        features = model.features(x)
        return head_logits(model, features), features
    captured: list[Tensor] = []
    hook = model.get_submodule(layer).register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        logits = model(x)
    finally:
        hook.remove()
    if len(captured) != 1:
        raise ValueError(f"layer {layer!r} ran {len(captured)} times in one forward pass; name a module that runs once")
    return logits, captured[0]


def layer_gradients(
    model: nn.Module, x: Tensor, target: Tensor | None, *, layer: str | None, score: str, create_graph: bool
) -> tuple[Tensor, Tensor]:
    """``(A, dS_c/dA)``, both ``(B, K, h, w)``; a partial backward that stops at the layer."""
    logits, activations = layer_activations(model, x, layer)
    target = resolve_target(logits, target)
    (grad,) = torch.autograd.grad(class_score(logits, target, score).sum(), activations, create_graph=create_graph)
    return activations, grad


def upsample_to(maps: Tensor, size: torch.Size | tuple[int, int]) -> Tensor:
    """Bilinear upsampling of ``(B, h, w)`` maps to ``(B, *size)`` (for display and pixel-level metrics)."""
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
