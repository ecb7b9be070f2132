"""Cosine and Lp distances between flattened attribution maps."""

import torch.nn.functional as F
from torch import Tensor

from ._reduce_channels import paired_maps


def cosine_distance(a: Tensor, b: Tensor, *, channel_rule: str | None = "abs_sum") -> Tensor:
    """Per-example ``1 - <a, b> / (|a| |b|)`` ``(B,)`` (as ``scipy.spatial.distance.cosine``).

    In [0, 1] for non-negative maps (the default ``abs_sum`` reduction), [0, 2] in general.
    An example whose ``a`` or ``b`` is all zero after channel reduction has no direction and gives
    NaN (explicitly, not by ``0 / 0``); a constant non-zero map has a direction and a defined value.

    Example:
        >>> import torch
        >>> cosine_distance(torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 1.0]]])).tolist()
        [1.0]
    """
    a, b = paired_maps(a, b, channel_rule)
    zero = (a == 0).all(dim=1) | (b == 0).all(dim=1)
    return (1 - F.cosine_similarity(a, b, dim=1, eps=0.0)).masked_fill(zero, float("nan"))


def lp_distance(a: Tensor, b: Tensor, *, p: float, channel_rule: str | None = "abs_sum") -> Tensor:
    """Per-example ``||a - b||_p`` ``(B,)`` of the maps as given (no normalisation).

    Example:
        >>> import torch
        >>> lp_distance(torch.tensor([[[3.0, 0.0]]]), torch.tensor([[[0.0, 4.0]]]), p=2).tolist()
        [5.0]
    """
    a, b = paired_maps(a, b, channel_rule)
    return (a - b).norm(p=p, dim=1)
