"""MASK: the meaningful-perturbation mask of Fong & Vedaldi, as the ADV2 paper's authors run it."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_batch, check_positive_int
from ._score import predicted_or_given


def total_variation(m: Tensor, beta: float) -> Tensor:
    """``(B,)``: ``mean |m[i+1, j] - m[i, j]|^beta + mean |m[i, j+1] - m[i, j]|^beta`` of masks ``(B, 1, h, w)`` (the authors' TV_beta)."""
    rows = (m[..., 1:, :] - m[..., :-1, :]).abs().pow(beta).flatten(1).mean(dim=1)
    cols = (m[..., :, 1:] - m[..., :, :-1]).abs().pow(beta).flatten(1).mean(dim=1)
    return rows + cols


def gaussian_blur(x: Tensor, sigma: float, size: int) -> Tensor:
    """``x (B, C, H, W)`` blurred by a ``size x size`` Gaussian of std ``sigma`` pixels, per channel, reflect-padded."""
    if sigma <= 0:
        return x
    offsets = torch.arange(size, dtype=x.dtype, device=x.device) - (size - 1) / 2
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    padded = F.pad(x, [size // 2] * 4, mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, size), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, size, 1), groups=channels)


def mask(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    iterations: int = 400,
    lr: float = 0.1,
    l1_coeff: float = 1e-2,
    tv_coeff: float = 1e-4,
    tv_beta: float = 3.0,
    grid: int | None = None,
    blur_sigma: float | None = None,
    create_graph: bool = False,
) -> Tensor:
    """The region whose deletion (blurring) most lowers the class probability: ``1 - up(m)``, ``(B, H, W)`` in [0, 1].

    A mask ``m`` in [0, 1] on a coarse ``grid x grid`` lattice is upsampled (bilinear) to the image;
    ``Phi = up(m) * x + (1 - up(m)) * blur(x)`` keeps the image where ``m = 1`` and blurs it where
    ``m = 0``. Adam (``lr``) minimises ``l1_coeff * mean|1 - m| + tv_coeff * TV_beta(m) + p_c(Phi)``,
    ``p_c`` the softmax probability of class ``c``, for ``iterations`` steps from ``m = 1``,
    clamping ``m`` to [0, 1] after each (Fong & Vedaldi, "Interpretable Explanations of Black Boxes
    by Meaningful Perturbation", with the defaults of the ADV2 authors' code: 1e-2, 1e-4, beta 3,
    lr 0.1; their 28 x 28 grid and 11 x 11, sigma 5 blur on 224-pixel images, scaled here to the image:
    ``grid = max(7, round(H / 8))`` (7 on MNIST and CIFAR: coarser grids spill far beyond the region), ``sigma = 5 H / 224``).

    Args:
        model: classifier on pixel-space images; call it in eval mode (``models.evaluation_mode``).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` explains the predicted class.
        iterations, lr, l1_coeff, tv_coeff, tv_beta: the optimisation (above).
        grid: side of the coarse mask; blur_sigma: the blur's std in pixels (kernel ``2 ceil(2 sigma) + 1``).
        create_graph: unroll the optimisation with a graph (Adam written out), so the map is
            differentiable w.r.t. ``x`` and the parameters; memory grows with ``iterations`` (use tens of
            iterations for attacks on MASK, as ADV2 does with its own schedule).

    Returns:
        ``(B, H, W)``: ``1 - up(m)``, detached unless ``create_graph``.

    Cost: ``iterations`` forward and backward passes (second-order when ``create_graph``).

    Example:
        >>> from lightning_robattr.models import Small
        >>> mask(Small().eval(), torch.rand(2, 1, 28, 28), iterations=5).shape
        torch.Size([2, 28, 28])
    """
    x, target = check_batch(model, x, {"target": target})
    check_positive_int(iterations, "iterations")
    height, width = x.shape[-2:]
    grid = grid or max(7, round(height / 8))
    sigma = 5 * height / 224 if blur_sigma is None else blur_sigma
    target = predicted_or_given(model, x, target)
    source = x if create_graph else x.detach()
    blurred = gaussian_blur(source, sigma, 2 * math.ceil(2 * sigma) + 1)
    m = torch.ones(len(x), 1, grid, grid, dtype=x.dtype, device=x.device, requires_grad=True)
    first, second = torch.zeros_like(m), torch.zeros_like(m)
    with torch.enable_grad():
        for step in range(1, iterations + 1):
            if not create_graph:  # no graph through the earlier steps
                m = m.detach().requires_grad_(True)
            up = F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)
            phi = up * source + (1 - up) * blurred
            probability = F.softmax(model(phi), dim=1).gather(1, target[:, None]).squeeze(1)
            objective = l1_coeff * (1 - m).abs().flatten(1).mean(dim=1) + tv_coeff * total_variation(m, tv_beta) + probability
            (grad,) = torch.autograd.grad(objective.sum(), m, create_graph=create_graph)
            first = 0.9 * first + 0.1 * grad
            second = 0.999 * second + 0.001 * grad * grad
            update = lr * (first / (1 - 0.9**step)) / ((second / (1 - 0.999**step) + 1e-16).sqrt() + 1e-8)  # +1e-16: a finite second derivative
            m = (m - update).clamp(0, 1)
    saliency = 1 - F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    return saliency if create_graph else saliency.detach()
