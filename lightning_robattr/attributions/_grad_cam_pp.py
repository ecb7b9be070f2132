"""GradCAM++: GradCAM with pixel-wise weights from higher-order terms (Chattopadhay et al.)."""

import torch
from torch import Tensor, nn

from .._validation import check_batch
from ._cam_base import layer_gradients, upsample_to
from ._score import attribution_method, check_gradient_options


@attribution_method
def grad_cam_pp(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    layer: str | None = None,
    upsample: bool = False,
    score: str = "logit",
    create_graph: bool = False,
) -> Tensor:
    """GradCAM++ map of class ``target``: Chattopadhay et al. eq. 19 with the exponential-score simplification.

    The simplification drops second derivatives: with ``g = dS_c/dA``,
    ``alpha_{k,ij} = g^2 / (2 g^2 + (sum_{ab} A_{k,ab}) g^3)``, ``w_k = sum_{ij} alpha_{k,ij} ReLU(g_{k,ij})``,
    ``L = ReLU(sum_k w_k A_k)``. ``alpha`` is set to 0 where ``g = 0`` or where the denominator is
    not positive (possible when ``A`` can be negative); no additive epsilon is used. On a GAP +
    linear head this is ``w_k = ReLU(W_ck) / (2 + W_ck mean(A_k))``.

    The Int code's variant is its own method, :func:`grad_cam_pp_int_repo` (``gradcampp_int_repo``).

    Args:
        model: classifier on pixel-space input (run in eval mode, its modes restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` attributes the predicted class.
        layer: dotted module name for ``A``; ``None`` is the net's ``features``.
        upsample: bilinearly upsample to the input size.
        score: ``"logit"``, ``"prob"`` or ``"ce"``.
        create_graph: keep the graph (map differentiable w.r.t. ``x`` and the parameters).

    Returns:
        ``(B, h, w)`` (or ``(B, H, W)`` upsampled); detached unless ``create_graph``.

    Example:
        >>> from lightning_robattr.models import Small
        >>> grad_cam_pp(Small().eval(), torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 7, 7])
    """
    check_gradient_options(score)
    x, target = check_batch(model, x, {"target": target})
    with torch.enable_grad():
        activations, grad = layer_gradients(model, x, target, layer=layer, score=score, create_graph=create_graph)
    if not create_graph:
        activations = activations.detach()
    g2 = grad.pow(2)
    denominator = 2 * g2 + activations.sum(dim=(2, 3), keepdim=True) * g2 * grad
    valid = (grad != 0) & (denominator > 0)
    alpha = torch.where(valid, g2 / torch.where(valid, denominator, torch.ones_like(denominator)), torch.zeros_like(g2))
    weights = (alpha * torch.relu(grad)).sum(dim=(2, 3))
    maps = torch.relu(torch.einsum("bk,bkhw->bhw", weights, activations))
    return upsample_to(maps, x.shape[-2:]) if upsample else maps
