"""The average input gradient over noisy copies of each image, shared by SmoothGrad and UniGrad."""

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._gradient_sum import weighted_gradient_sum
from ._score import check_gradient_options, predicted_or_given


def check_noise(noise: Tensor, x: Tensor) -> None:
    """Raise unless ``noise`` is ``(n, *x.shape)``."""
    if noise.dim() != x.dim() + 1 or noise.shape[1:] != x.shape:
        raise ValueError(f"noise must have shape (samples, *x.shape) = (n, {tuple(x.shape)}), got {tuple(noise.shape)}")


def noise_averaged_gradient(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None,
    noise: Callable[[int, int], Tensor],
    *,
    samples: int,
    multiply_by_inputs: bool,
    internal_batch_size: int,
    score: str,
    create_graph: bool,
) -> Tensor:
    """``(1/n) sum_j dS_c(x + noise_j)/dx``, times the clean ``x`` when ``multiply_by_inputs``.

    Args:
        x: images ``(B, C, H, W)``, checked by the caller (``_validation.check_batch``).
        target: class indices, a LongTensor ``(B,)``; ``None`` attributes the class predicted at the clean ``x``.
        noise: ``noise(start, stop)`` returns the perturbations ``(stop - start, B, C, H, W)`` of
            samples ``start..stop-1``; it is called chunk by chunk, so memory stays bounded.
        samples: number of noisy copies ``n``.
    """
    check_gradient_options(score)
    if not create_graph:
        x = x.detach()
    target = predicted_or_given(model, x, target)
    weights = torch.full((samples,), 1.0 / samples, dtype=x.dtype, device=x.device)

    def points(start: int, stop: int) -> Tensor:
        return x + noise(start, stop)

    with torch.enable_grad():
        grad = weighted_gradient_sum(
            model, points, weights, target, internal_batch_size=internal_batch_size, score=score, create_graph=create_graph
        )
    return grad * x if multiply_by_inputs else grad
