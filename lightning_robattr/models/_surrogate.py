"""Smooth stand-ins for ReLU nets, whose second input derivatives vanish: softplus, or ReLU with a smooth derivative."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LeakySoftplus(nn.Module):
    """Smooth leaky ReLU: ``slope * x + (1 - slope) * softplus_beta(x)``."""

    def __init__(self, negative_slope: float, beta: float) -> None:
        super().__init__()
        self.negative_slope, self.beta = negative_slope, beta

    def forward(self, x: Tensor) -> Tensor:
        return self.negative_slope * x + (1 - self.negative_slope) * F.softplus(x, beta=self.beta)


class SmoothDerivativeReLU(nn.Module):
    """ReLU in the forward pass whose derivative is the smooth ``x / sqrt(x^2 + e)`` (``x >= 0``), ``1 + x / sqrt(x^2 + e)`` (``x < 0``).

    The ADV2 authors' stand-in for attacking gradient maps ("Interpretable Deep Learning under
    Fire"): values are exactly ReLU's, the first derivative is close to ReLU's step away from 0,
    and the second derivative ``e / (x^2 + e)^(3/2)`` is a bump of width about ``sqrt(e)`` at 0.
    Written as ``relu(x).detach() + s(x) - s(x).detach()`` with ``s`` an antiderivative of that derivative,
    so autograd differentiates it to any order.
    """

    def __init__(self, epsilon: float = 1e-4) -> None:
        super().__init__()
        self.epsilon = epsilon

    def forward(self, x: Tensor) -> Tensor:
        root = torch.sqrt(x * x + self.epsilon) - self.epsilon**0.5
        antiderivative = torch.where(x >= 0, root, x + root)
        return F.relu(x).detach() + antiderivative - antiderivative.detach()


def _swap(net: nn.Module, replacement: Callable[[nn.Module], nn.Module | None]) -> Iterator[nn.Module]:
    """Replace every submodule for which ``replacement`` gives a module, yield ``net``, and put the originals back."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            stand_in = replacement(child)
            if stand_in is not None:
                swapped.append((parent, name, child))
                setattr(parent, name, stand_in)
    try:
        yield net
    finally:
        for parent, name, original in reversed(swapped):
            setattr(parent, name, original)


def flushing_denormals() -> bool:
    """Whether this thread's CPU flushes denormal floats to zero (``torch.set_flush_denormal`` has no getter)."""
    return torch.tensor([1e-40]).mul(1.0).item() == 0.0


@contextmanager
def flushed_denormals() -> Iterator[None]:
    """Flush denormal floats to zero inside the block, then restore the previous setting.

    A sharp softplus (``beta`` 30 or more) fills its second derivative with values below 1e-38,
    which a CPU computes on tens of times more slowly; flushing them changes results by less
    than 1e-38 and makes a surrogate step at ``beta=30`` as fast as one at ``beta=1``.
    """
    before = flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


@contextmanager
def softplus_surrogate(net: nn.Module, beta: float = 1.0) -> Iterator[nn.Module]:
    """Swap every ``nn.ReLU`` (and ``nn.LeakyReLU``) module of ``net`` for a softplus of sharpness ``beta``.

    The weights stay shared, so gradients of the smoothed net reach the real parameters.
    On exit the original activation modules are put back, so the net is exactly as before.
    A sharp softplus is slow on a CPU unless denormals are flushed: run the whole forward and
    backward under :func:`flushed_denormals`.
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

    def smooth(module: nn.Module) -> nn.Module | None:
        if isinstance(module, nn.ReLU):
            return nn.Softplus(beta=beta)
        if isinstance(module, nn.LeakyReLU):
            return LeakySoftplus(module.negative_slope, beta)
        return None

    yield from _swap(net, smooth)


@contextmanager
def relu_derivative_surrogate(net: nn.Module, epsilon: float = 1e-4) -> Iterator[nn.Module]:
    """Swap every ``nn.ReLU`` module of ``net`` for a :class:`SmoothDerivativeReLU` (same values, smooth derivative).

    Weights stay shared and the originals are put back on exit, as in :func:`softplus_surrogate`.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> with relu_derivative_surrogate(net):
        ...     type(net[1]).__name__
        'SmoothDerivativeReLU'
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    yield from _swap(net, lambda module: SmoothDerivativeReLU(epsilon) if isinstance(module, nn.ReLU) else None)
