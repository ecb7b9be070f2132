"""The random-sign baseline of "Interpretation of Neural Networks is Fragile" (Ghorbani et al.)."""

import torch
from torch import Tensor

from ..._validation import check_batch
from .._threat_models import threat_model


def random_sign(x: Tensor, *, eps: float, norm: str = "linf", generator: torch.Generator | None = None) -> Tensor:
    """Move every pixel by ``+-eps`` with an independent fair sign, then clamp to [0, 1].

    The baseline against which attribution attacks are compared: a perturbation of the same
    budget that knows nothing about the model. For ``norm="l2"`` the sign vector is scaled to
    L2 length ``eps`` (every pixel moves by ``eps / sqrt(C*H*W)``).

    Args:
        x: clean images ``(B, C, H, W)`` in [0, 1].
        eps: budget in pixel units.
        norm: ``"linf"`` or ``"l2"``.
        generator: random source for the signs (on ``x``'s device).

    Returns:
        ``(B, C, H, W)`` in [0, 1], within ``eps`` of ``x`` in the chosen norm.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x_rs = random_sign(torch.full((2, 1, 28, 28), 0.5), eps=0.1, generator=g)
        >>> sorted({round(v, 4) for v in (x_rs - 0.5).abs().flatten().tolist()})
        [0.1]
    """
    (x,) = check_batch(None, x)
    threat = threat_model(norm, eps)
    bits = torch.randint(0, 2, x.shape, generator=generator, device=x.device)
    signs = (2 * bits - 1).to(x.dtype)
    step = threat.eps if norm == "linf" else threat.eps / signs[0].numel() ** 0.5
    return (x.detach() + step * signs).clamp(0, 1)
