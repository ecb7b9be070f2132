"""Smooth Surface Regularisation (SSR): penalise the top eigenvalue of the cross-entropy's input Hessian."""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models._evaluation_mode import eval_layers
from ._hessian import ChannelReduce, HessianRoute, top_eigenvalue_on_graph, top_hessian_eigenvalue
from ._modes import behaves_differently_in_eval
from ._objective import RegimeObjective


def ssr_penalty(
    model: nn.Module,
    x: Tensor,
    *,
    scale: float = 1.0,
    route: HessianRoute = "exact",
    iterations: int | None = None,
    channel_reduce: ChannelReduce = "none",
    generator: torch.Generator | None = None,
) -> Tensor:
    """``scale * mean_b lambda_max(J^T A J)`` at the images ``x (B, C, H, W)``: a differentiable scalar.

    Add ``beta *`` this to any loss (Definition 7 of "Smoothed Geometry for Robust
    Attribution"). The routes and options are those of :func:`top_hessian_eigenvalue`.
    ``scale`` (the paper's ``s``) brings the eigenvalues to the size of the cross-entropy; the
    paper's ``s = 1e6`` on 0-255 images is ``s ~ 15`` on [0, 1] images (eigenvalues scale with
    the square of the pixel range).

    Example:
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> loss = F.cross_entropy(net(x), y) + 0.3 * ssr_penalty(net, x, scale=1.0)
        >>> loss.backward()
    """
    eigenvalues = top_hessian_eigenvalue(
        model, x, route=route, iterations=iterations, channel_reduce=channel_reduce, create_graph=True, generator=generator
    )
    return scale * eigenvalues.mean()


def ssr_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    beta: float = 0.3,
    scale: float = 1.0,
    form: Literal["paper", "code"] = "paper",
    route: HessianRoute = "exact",
    iterations: int | None = None,
    channel_reduce: ChannelReduce = "none",
    hessian_eval_mode: bool = True,
    generator: torch.Generator | None = None,
) -> RegimeObjective:
    """The SSR objective: ``CE + beta * s * mean(lambda_max)`` (``form="paper"``, Definition 7) or
    ``(1 - beta) * CE + beta * s * mean(lambda_max)`` (``form="code"``, the authors' code with ``beta = alpha``).

    Under Adam the two forms differ only in the penalty weight: ``code`` with ``alpha`` trains
    like ``paper`` with ``beta = alpha / (1 - alpha)`` (0.3 -> 0.43). The cross-entropy and the
    Hessian share one forward pass unless the net is in train mode with BatchNorm or dropout
    and ``hessian_eval_mode`` is set: then the Hessian comes from a second, eval-mode pass, so
    each image's Hessian is its own (train-mode BatchNorm couples the images of a batch).

    Args:
        model: classifier on pixel-space images; pass the raw net, not a DDP wrapper.
        x: images ``(B, C, H, W)`` in [0, 1]; y: labels ``(B,)``.
        beta: penalty weight (paper 0.3); the convex weight ``alpha`` with ``form="code"``.
        scale: ``s``, see :func:`ssr_penalty`.
        route, iterations, channel_reduce, generator: see :func:`top_hessian_eigenvalue`.
        hessian_eval_mode: compute the Hessian with BatchNorm in eval mode.

    Returns:
        ``RegimeObjective`` with the clean logits and parts ``ce``, ``penalty`` (``s * mean lambda``)
        and ``eig_max`` (``mean lambda``).
    """
    if form not in ("paper", "code"):
        raise ValueError(
            f"unknown SSR form {form!r}; choose 'paper' (CE + beta s lambda) or 'code' ((1 - beta) CE + beta s lambda)"
        )
    options = {"route": route, "iterations": iterations, "channel_reduce": channel_reduce, "generator": generator}
    x = x.detach().requires_grad_(True)
    logits = model(x)
    ce = F.cross_entropy(logits, y)
    if hessian_eval_mode and behaves_differently_in_eval(model):
        with eval_layers(model):
            eigenvalues = top_hessian_eigenvalue(model, x, create_graph=True, **options)
    else:
        eigenvalues = top_eigenvalue_on_graph(logits, x, create_graph=True, **options)
    eig_max = eigenvalues.mean()
    penalty = scale * eig_max
    loss = ce + beta * penalty if form == "paper" else (1 - beta) * ce + beta * penalty
    return RegimeObjective(loss, logits, {"ce": ce.detach(), "penalty": penalty.detach(), "eig_max": eig_max.detach()})
