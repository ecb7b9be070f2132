"""UniGrad: the input gradient averaged over uniform samples around the image."""

import math

import torch
from torch import Tensor, nn

from .._validation import check_batch, check_choice
from ._score import attribution_method
from ._smooth_grad import noise_averaged_gradient

NORMS = ("linf", "l2")


def uniform_noise(
    shape: tuple[int, ...],
    *,
    radius: float,
    norm: str,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device,
) -> Tensor:
    """Uniform samples ``(n, B, *dims)`` of the L-inf box or the L2 ball of ``radius`` (per image)."""
    if norm == "linf":
        return (2 * torch.rand(shape, generator=generator, dtype=dtype, device=device) - 1) * radius
    if norm != "l2":
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    direction = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    direction = direction / direction.flatten(2).norm(dim=2).view(*shape[:2], *[1] * (len(shape) - 2))
    dims = math.prod(shape[2:])
    scale = torch.rand(shape[:2], generator=generator, dtype=dtype, device=device) ** (1.0 / dims)
    return direction * (radius * scale).view(*shape[:2], *[1] * (len(shape) - 2))


@attribution_method
def uni_grad(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    samples: int = 50,
    radius: float = 4 / 255,
    norm: str = "linf",
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    multiply_by_inputs: bool = False,
    internal_batch_size: int = 512,
    score: str = "logit",
    create_graph: bool = False,
) -> Tensor:
    """``UG(x) = (1/n) sum_j dS_c(z_j)/dz`` with ``z_j`` uniform in a ball of ``radius`` around ``x`` (SSR paper, Def. 8).

    Args:
        model: classifier on pixel-space input (run in eval mode, its modes restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` attributes the class predicted at the clean ``x``.
        samples: number of samples ``n``.
        radius: ball radius in pixel units (4/255 in the SSR paper).
        norm: ``"linf"`` (each pixel uniform in ``[-r, r]``, as the SSR code) or ``"l2"`` (uniform in the L2 ball).
        generator: seeds the noise (on ``x``'s device); each sample is drawn separately, so the
            draws do not depend on ``internal_batch_size``.
        noise: perturbations ``(n, B, C, H, W)`` to reuse as they are; overrides ``samples``, ``radius``, ``norm``.
        multiply_by_inputs: multiply the averaged gradient by the clean ``x``.
        internal_batch_size: rows (samples x images) per forward pass.
        score: ``"logit"``, ``"prob"`` or ``"ce"``.
        create_graph: keep the graph (map differentiable w.r.t. ``x`` and the parameters).

    Returns:
        ``(B, C, H, W)``; detached unless ``create_graph``.

    Cost: ``n`` forward + ``n`` backward.

    Example:
        >>> from lightning_robattr.models import Small
        >>> uni_grad(Small().eval(), torch.rand(2, 1, 28, 28), samples=4).shape
        torch.Size([2, 1, 28, 28])
    """
    x, target = check_batch(model, x, {"target": target})
    check_choice(norm, NORMS, name="norm")
    return noise_averaged_gradient(
        model,
        x,
        target,
        noise=noise,
        draw=lambda: uniform_noise(
            (1, *x.shape), radius=radius, norm=norm, generator=generator, dtype=x.dtype, device=x.device
        )[0],
        scale=1.0,
        samples=samples,
        multiply_by_inputs=multiply_by_inputs,
        internal_batch_size=internal_batch_size,
        score=score,
        create_graph=create_graph,
    )
