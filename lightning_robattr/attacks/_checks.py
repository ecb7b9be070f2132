"""Argument checks shared by the attacks: clear errors instead of silent nonsense."""

import torch
from torch import Tensor


def check_images(x: Tensor) -> None:
    """Raise unless ``x`` is a floating ``(B, C, H, W)`` batch with every value in [0, 1]."""
    if not torch.is_tensor(x) or x.dim() != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"images must be a float tensor (B, C, H, W), got {shape}")
    lo, hi = x.min().item(), x.max().item()
    if lo < 0 or hi > 1:
        raise ValueError(
            f"images must lie in [0, 1] (pixel space; normalise inside the model), got values in [{lo:.4g}, {hi:.4g}]"
        )


def check_labels(y: Tensor, x: Tensor) -> None:
    """Raise unless ``y`` is an integer ``(B,)`` tensor matching the batch of ``x``."""
    if not torch.is_tensor(y) or y.dim() != 1 or y.is_floating_point() or len(y) != len(x):
        shape = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
        raise ValueError(f"labels must be an integer tensor of shape ({len(x)},), got {shape}")


def check_positive_int(value: int, name: str) -> None:
    """Raise unless ``value`` is an integer >= 1 (steps, restarts, iterations)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_nonnegative(value: float, name: str) -> None:
    """Raise unless ``value`` is a finite number >= 0 (eps, step sizes, constants)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < float("inf")):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
