"""Integrated Gradients with Riemann-right, trapezoid and Gauss-Legendre quadrature."""

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor, nn

from .._validation import check_batch
from ._score import attribution_method, check_gradient_options, predicted_or_given, weighted_gradient_sum

RULES = ("riemann_right", "trapezoid", "gauss_legendre")


@lru_cache(maxsize=64)
def quadrature(rule: str, steps: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Nodes ``alpha`` in [0, 1] and weights (summing to 1) of a ``steps``-point rule on [0, 1].

    ``riemann_right``: ``alpha_k = k/m``, ``k = 1..m``, weights ``1/m`` (alpha = 0 excluded, 1 included).
    ``trapezoid``: ``m`` equally spaced nodes including both ends, end weights halved (needs m >= 2).
    ``gauss_legendre``: the ``m``-point Gauss-Legendre rule mapped from [-1, 1] to [0, 1].
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if steps < 1 or (rule == "trapezoid" and steps < 2):
        raise ValueError(f"rule {rule!r} needs more steps, got {steps}")
    if rule == "riemann_right":
        alphas, weights = np.arange(1, steps + 1) / steps, np.full(steps, 1.0 / steps)
    elif rule == "trapezoid":
        alphas, weights = np.linspace(0.0, 1.0, steps), np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
    else:
        nodes, w = np.polynomial.legendre.leggauss(steps)
        alphas, weights = (nodes + 1) / 2, w / 2
    return tuple(alphas.tolist()), tuple(weights.tolist())


@attribution_method
def integrated_gradients(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    baseline: Tensor | float | None = None,
    steps: int = 50,
    rule: str = "riemann_right",
    internal_batch_size: int = 512,
    score: str = "logit",
    create_graph: bool = False,
) -> Tensor:
    """``IG(x) = (x - x0) * integral_0^1 dS_c(x0 + a (x - x0))/dx da`` by a ``steps``-point rule.

    The points of a chunk go through the net in one batched forward pass; a chunk holds at
    most ``internal_batch_size`` rows (points x images), which bounds memory when
    ``create_graph`` is off. Completeness: ``IG.sum() ~ S_c(x) - S_c(x0)`` (error O(1/steps)
    for ``riemann_right``). With ``score="ce"``, the labels as ``target`` and the clean images as
    ``baseline`` it is the loss IG that ``losses.ig_norm_loss`` penalises (Chen et al.).

    Args:
        model: classifier on pixel-space input (run in eval mode, its modes restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` attributes the class predicted at ``x``.
        baseline: ``x0``, a tensor broadcastable to ``x`` or a constant pixel value; ``None`` is black (zeros).
        steps: number of gradient evaluations per image.
        rule: ``"riemann_right"`` (the papers' sum), ``"trapezoid"`` or ``"gauss_legendre"``.
        internal_batch_size: rows per forward pass (the same meaning as captum's).
        score: ``"logit"``, ``"prob"`` or ``"ce"`` (the cross-entropy loss at label ``target``).
        create_graph: keep the graph (map differentiable w.r.t. ``x`` and the parameters).

    Returns:
        ``(B, C, H, W)``; detached unless ``create_graph``.

    Cost: ``steps`` forward + ``steps`` backward (+ 1 forward without a graph when ``target`` is None).

    Example:
        >>> from lightning_robattr.models import Small
        >>> integrated_gradients(Small().eval(), torch.rand(2, 1, 28, 28), steps=8).shape
        torch.Size([2, 1, 28, 28])
    """
    check_gradient_options(score)
    x, target = check_batch(model, x, {"target": target})
    alphas, weights = (torch.tensor(v, dtype=x.dtype, device=x.device) for v in quadrature(rule, steps))
    if not create_graph:
        x = x.detach()
    x0 = torch.zeros_like(x) if baseline is None else torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    if not create_graph:
        x0 = x0.detach()
    delta = x - x0
    target = predicted_or_given(model, x, target)

    def points(start: int, stop: int) -> Tensor:
        return torch.addcmul(x0, alphas[start:stop].view(-1, *[1] * x.dim()), delta)

    with torch.enable_grad():
        path_grad = weighted_gradient_sum(
            model, points, weights, target, internal_batch_size=internal_batch_size, score=score, create_graph=create_graph
        )
    return delta * path_grad
