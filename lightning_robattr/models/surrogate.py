"""The softplus surrogate: a smooth stand-in for ReLU nets whose second input derivatives vanish."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch.nn.functional as F
from torch import Tensor, nn


class LeakySoftplus(nn.Module):
    """Smooth leaky ReLU: ``slope * x + (1 - slope) * softplus_beta(x)``."""

    def __init__(self, negative_slope: float, beta: float) -> None:
        super().__init__()
        self.negative_slope, self.beta = negative_slope, beta

    def forward(self, x: Tensor) -> Tensor:
        return self.negative_slope * x + (1 - self.negative_slope) * F.softplus(x, beta=self.beta)


def _smooth(module: nn.Module, beta: float) -> nn.Module | None:
    if isinstance(module, nn.ReLU):
        return nn.Softplus(beta=beta)
    if isinstance(module, nn.LeakyReLU):
        return LeakySoftplus(module.negative_slope, beta)
    return None


@contextmanager
def softplus_surrogate(net: nn.Module, beta: float = 1.0) -> Iterator[nn.Module]:
    """Swap every ``nn.ReLU`` (and ``nn.LeakyReLU``) module of ``net`` for a softplus of sharpness ``beta``.

    The weights stay shared, so gradients of the smoothed net reach the real parameters.
    On exit the original activation modules are put back, so the net is exactly as before.
    Activations applied functionally (``F.relu``) cannot be swapped and stay ReLU.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> with softplus_surrogate(net, beta=10.0):
        ...     type(net[1]).__name__
        'Softplus'
        >>> type(net[1]).__name__
        'ReLU'
    """
    if beta <= 0:
        raise ValueError(f"softplus beta must be positive, got {beta}")
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            smooth = _smooth(child, beta)
            if smooth is not None:
                swapped.append((parent, name, child))
                setattr(parent, name, smooth)
    try:
        yield net
    finally:
        for parent, name, original in reversed(swapped):
            setattr(parent, name, original)
