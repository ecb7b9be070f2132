"""GradCAM: a layer's channels weighted by the spatially averaged gradient of the class score."""

import torch
from torch import Tensor, nn

from .._validation import check_batch
from ._cam_base import layer_gradients, upsample_to
from ._score import attribution_method, check_gradient_options


@attribution_method
def grad_cam(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    layer: str | None = None,
    upsample: bool = False,
    score: str = "logit",
    create_graph: bool = False,
) -> Tensor:
    """``ReLU(sum_k alpha_k A_k)`` with ``alpha_k = mean_{ij} dS_c/dA_{k,ij}`` (Selvaraju et al.).

    On a GAP + linear head with the default layer this equals ``ReLU(cam(model, x)) / (h w)``.

    Args:
        model: classifier on pixel-space input (run in eval mode, its modes restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` attributes the predicted class.
        layer: dotted name of the module whose output ``A (B, K, h, w)`` is used; ``None`` is the net's ``features``.
        upsample: bilinearly upsample to the input size.
        score: ``"logit"``, ``"prob"`` or ``"ce"``.
        create_graph: keep the graph (map differentiable w.r.t. ``x`` and the parameters).

    Returns:
        ``(B, h, w)`` (or ``(B, H, W)`` upsampled); detached unless ``create_graph``.

    Cost: one forward pass and a partial backward down to the layer.

    Example:
        >>> from lightning_robattr.models import Small
        >>> grad_cam(Small().eval(), torch.rand(2, 1, 28, 28), layer="relu2").shape
        torch.Size([2, 7, 7])
    """
    check_gradient_options(score)
    x, target = check_batch(model, x, {"target": target})
    with torch.enable_grad():
        activations, grad = layer_gradients(model, x, target, layer=layer, score=score, create_graph=create_graph)
    if not create_graph:
        activations = activations.detach()
    maps = torch.relu(torch.einsum("bk,bkhw->bhw", grad.mean(dim=(2, 3)), activations))
    return upsample_to(maps, x.shape[-2:]) if upsample else maps
