"""SmoothGrad: the input gradient averaged over Gaussian-noised copies of the image."""

import torch
from torch import Tensor, nn

from .._validation import check_batch
from ._noise_average import check_noise, noise_averaged_gradient


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
        model: classifier on pixel-space input; call it in eval mode.
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
        score: ``"logit"`` or ``"prob"``.
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
    if noise is not None:
        check_noise(noise, x)
        samples = noise.shape[0]

    def draws(start: int, stop: int) -> Tensor:
        if noise is not None:
            return noise[start:stop] * sigma
        fresh = torch.empty((stop - start, *x.shape), dtype=x.dtype, device=x.device)
        for sample in fresh:
            sample.normal_(generator=generator)
        return fresh * sigma

    return noise_averaged_gradient(
        model,
        x,
        target,
        draws,
        samples=samples,
        multiply_by_inputs=multiply_by_inputs,
        internal_batch_size=internal_batch_size,
        score=score,
        create_graph=create_graph,
    )
