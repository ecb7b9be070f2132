"""MASK: Fong & Vedaldi's meaningful-perturbation mask with the ADV2 authors' settings, the class logit its default score."""

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_batch, check_positive_int
from ._score import attribution_method, predicted_or_given


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


CLASS_TERMS = ("probability", "log_probability", "logit")

DEFAULT_CLASS_TERM = "logit"
"""MASK's class term unless one is given: the logit, chosen by measurement (``scripts/bench_mask_class_term.py``).

On a net that reads only one 12x12 block of a 28x28 image the probability (and the log-probability, whose
gradient is the same ``1 - p`` times the logit's there) gives constant maps for 75 % of images at a logit gap of 11
and for all of them at 66; the logit gives none and finds the block at every gap (IoU 0.42 with ``map >= 0.5``,
93 % of the map within one grid cell of the block), as well as the probability where that works (gap 3).
On a natural ``Small`` trained 10 epochs on MNIST5k (median ``p(y)`` 0.9999) 22 to 44 % of the probability's
maps are constant (three seeds, 32 test digits); none of the logit's, whose regions lower the logit by a
median 2.9 to 3.2 (a shuffled map of the same size: 1.0 to 1.3). Same cost. Where ``p_c`` is not saturated the
probability (the paper's and the ADV2 authors') deletes less (22 % of the image against 40 % on a
``Small`` trained 300 steps, median ``p(y)`` 0.94) and lowers ``p_c`` more: pass it where the net is not saturated.
"""


def class_score(logits: Tensor, target: Tensor, kind: str) -> Tensor:
    """``(B,)``: the class score MASK minimises, ``kind`` of class ``target``: its softmax probability (Fong & Vedaldi,
    the ADV2 authors), its log-probability (whose gradient also vanishes where the softmax is saturated, ``p -> 1``,
    but not where ``p -> 0``) or its logit (which keeps its gradient everywhere)."""
    if kind == "probability":
        return F.softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    if kind == "log_probability":
        return F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    if kind == "logit":
        return logits.gather(1, target[:, None]).squeeze(1)
    raise ValueError(f"class_term must be one of {CLASS_TERMS}, got {kind!r}")


class MaskState(NamedTuple):
    """The optimiser's state: the coarse mask ``m (B, 1, g, g)`` in [0, 1], Adam's moments (same shape) and its step count."""

    m: Tensor
    first: Tensor
    second: Tensor
    step: int


def initial_mask_state(x: Tensor, grid: int, value: float = 1.0) -> MaskState:
    """A ``grid x grid`` mask of ``value`` per image of ``x (B, C, H, W)``, with zero moments."""
    m = torch.full((len(x), 1, grid, grid), value, dtype=x.dtype, device=x.device)
    return MaskState(m, torch.zeros_like(m), torch.zeros_like(m), 0)


def mask_steps(
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    state: MaskState,
    *,
    iterations: int,
    lr: float = 0.1,
    l1_coeff: float = 1e-2,
    tv_coeff: float = 1e-4,
    tv_beta: float = 3.0,
    blur_sigma: float | None = None,
    class_term: str = DEFAULT_CLASS_TERM,
    create_graph: bool = False,
) -> MaskState:
    """``iterations`` Adam steps on MASK's objective (see :func:`mask`) from ``state``, clamping to [0, 1] after each.

    With ``create_graph`` the steps are written out with a graph (the result is differentiable
    w.r.t. ``x``, the parameters and ``state``); otherwise each step starts from a detached mask.
    Attacks on MASK continue one state across their iterations (as the ADV2 authors track the
    interpreter's optimisation) instead of restarting it.
    """
    height, width = x.shape[-2:]
    sigma = 5 * height / 224 if blur_sigma is None else blur_sigma
    source = x if create_graph else x.detach()
    blurred = gaussian_blur(source, sigma, 2 * math.ceil(2 * sigma) + 1)
    m, first, second, count = state
    if not create_graph:
        m, first, second = m.detach(), first.detach(), second.detach()
    with torch.enable_grad():
        for _ in range(iterations):
            count += 1
            if not create_graph:  # no graph through the earlier steps
                m = m.detach()
            if not m.requires_grad:
                m = m.requires_grad_(True)
            up = F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)
            phi = up * source + (1 - up) * blurred
            score = class_score(model(phi), target, class_term)
            objective = l1_coeff * (1 - m).abs().flatten(1).mean(dim=1) + tv_coeff * total_variation(m, tv_beta) + score
            (grad,) = torch.autograd.grad(objective.sum(), m, create_graph=create_graph)
            first = 0.9 * first + 0.1 * grad
            second = 0.999 * second + 0.001 * grad * grad
            update = lr * (first / (1 - 0.9**count)) / ((second / (1 - 0.999**count) + 1e-16).sqrt() + 1e-8)  # +1e-16: a finite second derivative
            m = (m - update).clamp(0, 1)
    if not create_graph:
        m, first, second = m.detach(), first.detach(), second.detach()
    return MaskState(m, first, second, count)


def mask_saliency(m: Tensor, size: tuple[int, int]) -> Tensor:
    """``(B, H, W)``: the map ``1 - up(m)`` of coarse masks ``m (B, 1, g, g)`` upsampled (bilinear) to ``size``."""
    return 1 - F.interpolate(m, size=size, mode="bilinear", align_corners=False)[:, 0]


def _grid(grid: int | None, x: Tensor) -> int:
    """The coarse mask's side: ``grid``, by default ``max(7, round(H / 8))`` for images ``x (B, C, H, W)``."""
    return grid or max(7, round(x.shape[-2] / 8))


def tracked_mask(
    model: nn.Module,
    target: Tensor,
    *,
    step_context: Callable[[], AbstractContextManager],
    inner_steps: int = 4,
    restart_every: int = 50,
    iterations: int = 400,
    grid: int | None = None,
    **options: Any,
) -> Callable[[Tensor], Tensor]:
    """MASK's map of class ``target (B,)`` as a function of a moving input, ``x (B, C, H, W) -> (B, H, W)``, its optimisation tracked.

    How the ADV2 authors attack MASK: a full run of ``iterations`` steps on the first call and every
    ``restart_every`` calls, then per call ``inner_steps`` plain Adam steps at the current input and one
    step written out with a graph inside ``step_context()`` (e.g. a surrogate of ``model``), whose map
    ``1 - up(m)`` is returned, differentiable w.r.t. the input. ``options``: :func:`mask`'s others (``lr``, ...).
    """
    state, calls = None, 0

    def follow(x: Tensor) -> Tensor:
        nonlocal state, calls
        detached = x.detach()
        if calls % restart_every == 0:
            state = mask_steps(model, detached, target, initial_mask_state(detached, _grid(grid, x)), iterations=iterations, **options)
        else:
            state = mask_steps(model, detached, target, state, iterations=inner_steps, **options)
        calls += 1
        with step_context():
            step = mask_steps(model, x, target, state, iterations=1, create_graph=True, **options)
        return mask_saliency(step.m, x.shape[-2:])

    return follow


@attribution_method
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
    class_term: str = DEFAULT_CLASS_TERM,
    create_graph: bool = False,
) -> Tensor:
    """The region whose deletion (blurring) most lowers the class score: ``1 - up(m)``, ``(B, H, W)`` in [0, 1].

    A mask ``m`` in [0, 1] on a coarse ``grid x grid`` lattice is upsampled (bilinear) to the image;
    ``Phi = up(m) * x + (1 - up(m)) * blur(x)`` keeps the image where ``m = 1`` and blurs it where
    ``m = 0``. Adam (``lr``) minimises ``l1_coeff * mean|1 - m| + tv_coeff * TV_beta(m) + s_c(Phi)``,
    ``s_c`` the score of class ``c`` (``class_term``), for ``iterations`` steps from ``m = 1``,
    clamping ``m`` to [0, 1] after each (Fong & Vedaldi, "Interpretable Explanations of Black Boxes
    by Meaningful Perturbation", with the defaults of the ADV2 authors' code: 1e-2, 1e-4, beta 3,
    lr 0.1; their 28 x 28 grid and 11 x 11, sigma 5 blur on 224-pixel images, scaled here to the image:
    ``grid = max(7, round(H / 8))`` (7 on MNIST and CIFAR: coarser grids spill far beyond the region), ``sigma = 5 H / 224``).

    Args:
        model: classifier on pixel-space images (run in eval mode, its modes restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` explains the predicted class.
        iterations, lr, l1_coeff, tv_coeff, tv_beta: the optimisation (above).
        grid: side of the coarse mask; blur_sigma: the blur's std in pixels (kernel ``2 ceil(2 sigma) + 1``).
        class_term: the class score ``s_c`` in the objective: ``"logit"`` (the default), ``"probability"``
            (``p_c``, the paper's and the ADV2 authors') or ``"log_probability"``. On a confident net the
            gradients of ``p_c`` and of ``log p_c`` (both about ``1 - p_c`` times the logit's) lose to the L1
            term, the mask never leaves 1 and the map is constant: measured, 75 % of the maps at a logit gap
            of 11 and all at 66 on a net that reads one 12x12 block, 22 to 44 % on a natural MNIST ``Small``
            (median ``p(y)`` 0.9999); the logit's are never constant and find the block (see
            ``DEFAULT_CLASS_TERM``). Pass ``"probability"`` to reproduce the paper, or on a net whose softmax
            is not saturated, where it deletes less.
        create_graph: unroll the optimisation with a graph (Adam written out), so the map is
            differentiable w.r.t. ``x`` and the parameters; memory grows with ``iterations`` (attacks
            on MASK unroll a few steps of a tracked state instead, see ``attributions.mask.tracked_mask``).

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
    if class_term not in CLASS_TERMS:
        raise ValueError(f"class_term must be one of {CLASS_TERMS}, got {class_term!r}")
    target = predicted_or_given(model, x, target)
    state = initial_mask_state(x, _grid(grid, x))
    options = {"lr": lr, "l1_coeff": l1_coeff, "tv_coeff": tv_coeff, "tv_beta": tv_beta, "blur_sigma": blur_sigma, "class_term": class_term}
    state = mask_steps(model, x, target, state, iterations=iterations, create_graph=create_graph, **options)
    return mask_saliency(state.m, x.shape[-2:])
