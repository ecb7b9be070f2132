"""SmoothGrad: the input gradient averaged over Gaussian-noised copies of the image.

:func:`noise_averaged_gradient` is the average over noisy copies that SmoothGrad and UniGrad share.
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._validation import check_batch, check_positive_int
from ._score import attribution_method, check_gradient_options, predicted_or_given, weighted_gradient_sum


def noise_averaged_gradient(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None,
    *,
    noise: Tensor | None,
    draw: Callable[[], Tensor],
    scale: Tensor | float,
    samples: int,
    multiply_by_inputs: bool,
    internal_batch_size: int,
    score: str,
    create_graph: bool,
) -> Tensor:
    """``(1/n) sum_j dS_c(x + scale * eta_j)/dx``, times the clean ``x`` when ``multiply_by_inputs``.

    Args:
        x: images ``(B, C, H, W)``, checked by the caller (``_validation.check_batch``).
        target: class indices, a LongTensor ``(B,)``; ``None`` attributes the class predicted at the clean ``x``.
        noise: the draws ``eta`` to reuse, ``(n, B, C, H, W)`` (then ``n`` overrides ``samples``), or
            ``None`` to call ``draw()`` once per sample, chunk by chunk (memory stays bounded, and
            the draws do not depend on ``internal_batch_size``).
        draw: one fresh draw ``eta_j`` of shape ``(B, C, H, W)``.
        scale: multiplies every draw: a float or a tensor broadcastable to ``x`` (e.g. ``(B, 1, 1, 1)``).
        samples: number of noisy copies ``n`` when ``noise`` is ``None``.
    """
    check_gradient_options(score)
    if noise is not None:
        if noise.dim() != x.dim() + 1 or noise.shape[1:] != x.shape or not len(noise):
            raise ValueError(
                f"noise must have shape (samples, *x.shape) = (n, {tuple(x.shape)}) with n >= 1, got {tuple(noise.shape)}; "
                "draw one perturbation per sample and image"
            )
        samples = noise.shape[0]
    check_positive_int(samples, "samples", hint="average at least one noisy copy, e.g. samples=50")
    if not create_graph:
        x = x.detach()
    target = predicted_or_given(model, x, target)
    weights = torch.full((samples,), 1.0 / samples, dtype=x.dtype, device=x.device)

    def points(start: int, stop: int) -> Tensor:
        draws = noise[start:stop] if noise is not None else torch.stack([draw() for _ in range(start, stop)])
        return x + draws * scale

    with torch.enable_grad():
        grad = weighted_gradient_sum(
            model, points, weights, target, internal_batch_size=internal_batch_size, score=score, create_graph=create_graph
        )
    return grad * x if multiply_by_inputs else grad


@attribution_method
def smooth_grad(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    samples: int = 50,
    sigma: float | Tensor | None = None,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    multiply_by_inputs: bool = False,
    internal_batch_size: int = 512,
    score: str = "logit",
    create_graph: bool = False,
) -> Tensor:
    """``SG(x) = (1/n) sum_j dS_c(x + eta_j)/dx`` with ``eta_j ~ N(0, sigma^2 I)``.

    Args:
        model: classifier on pixel-space input (run in eval mode, its modes restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` attributes the class predicted at the clean ``x``.
        samples: number of noisy copies ``n``.
        sigma: noise std in pixel units: a float, or a tensor ``(B,)`` per image; ``None`` uses
            ``0.1 * (max(x_b) - min(x_b))`` per image (SSR paper; with ``create_graph`` its
            dependence on ``x`` is differentiated too).
        generator: seeds the noise (on ``x``'s device); ``None`` uses the global RNG. Each sample is
            drawn separately, so the draws do not depend on ``internal_batch_size``.
        noise: standard-normal draws ``(n, B, C, H, W)`` to reuse (scaled by ``sigma``), e.g. the
            same noise for a clean and a perturbed image; overrides ``samples`` and ``generator``.
        multiply_by_inputs: multiply the averaged gradient by the clean ``x`` (the SSR paper's attacks).
        internal_batch_size: rows (samples x images) per forward pass.
        score: ``"logit"``, ``"prob"`` or ``"ce"``.
        create_graph: keep the graph (map differentiable w.r.t. ``x`` and the parameters).

    Returns:
        ``(B, C, H, W)``; detached unless ``create_graph``.

    Cost: ``n`` forward + ``n`` backward.

    Example:
        >>> from lightning_robattr.models import Small
        >>> g = torch.Generator().manual_seed(0)
        >>> smooth_grad(Small().eval(), torch.rand(2, 1, 28, 28), samples=4, generator=g).shape
        torch.Size([2, 1, 28, 28])
    """
    x, target = check_batch(model, x, {"target": target})
    if sigma is None:
        flat = x.flatten(1)
        sigma = 0.1 * (flat.amax(dim=1) - flat.amin(dim=1))
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.dim() == 1:
        sigma = sigma.view(-1, *[1] * (x.dim() - 1))
    return noise_averaged_gradient(
        model,
        x,
        target,
        noise=noise,
        draw=lambda: torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device),
        scale=sigma,
        samples=samples,
        multiply_by_inputs=multiply_by_inputs,
        internal_batch_size=internal_batch_size,
        score=score,
        create_graph=create_graph,
    )
