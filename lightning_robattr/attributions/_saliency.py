"""Saliency map (input gradient) and gradient x input."""

import torch
from torch import Tensor, nn

from .._validation import check_batch
from ._score import attribution_method, check_gradient_options, score_gradient


@attribution_method
def saliency(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    abs: bool = False,
    multiply_by_inputs: bool = False,
    score: str = "logit",
    create_graph: bool = False,
) -> Tensor:
    """Gradient of the class score with respect to the input, ``dS_c(x)/dx``.

    Args:
        model: classifier on pixel-space input (run in eval mode, its modes restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` attributes the predicted class.
        abs: return ``|dS/dx|`` (the Ghorbani et al. saliency map).
        multiply_by_inputs: return ``x * dS/dx`` (gradient x input, as the SSR paper's attacks use).
        score: ``"logit"`` (``S_c = f_c``), ``"prob"`` (``S_c = softmax(f)_c``) or ``"ce"``
            (``S_c = -log softmax(f)_c``, the cross-entropy loss at label ``c``).
        create_graph: keep the graph so the map is differentiable w.r.t. ``x`` and the parameters.

    Returns:
        ``(B, C, H, W)`` in ``x``'s dtype and device; detached unless ``create_graph``.

    Cost: 1 forward + 1 backward.

    Example:
        >>> from lightning_robattr.models import Small
        >>> saliency(Small().eval(), torch.rand(2, 1, 28, 28), abs=True).shape
        torch.Size([2, 1, 28, 28])
    """
    check_gradient_options(score)
    x, target = check_batch(model, x, {"target": target})
    with torch.enable_grad():
        grad = score_gradient(model, x, target, score=score, create_graph=create_graph)
    if multiply_by_inputs:
        grad = grad * (x if create_graph else x.detach())
    if abs:
        grad = grad.abs()
    return grad
