"""Spearman rank correlation of whole maps, with average ranks for ties (as ``scipy.stats.spearmanr``)."""

import torch
from torch import Tensor

from ._reduce_channels import paired_maps


def average_ranks(values: Tensor) -> Tensor:
    """Ranks ``1..P`` of each row of ``(B, P)``, tied entries sharing their average rank (float64)."""
    rows, size = values.shape
    sorted_values, order = torch.sort(values, dim=1, stable=True)
    new_group = torch.ones_like(sorted_values, dtype=torch.bool)
    new_group[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    group = torch.cumsum(new_group.flatten().long(), 0) - 1
    position = torch.arange(size, device=values.device, dtype=torch.float64).repeat(rows)
    groups = int(group[-1]) + 1 if group.numel() else 0
    first = torch.full((groups,), float("inf"), dtype=torch.float64, device=values.device).scatter_reduce(
        0, group, position, reduce="amin"
    )
    last = torch.full((groups,), -1.0, dtype=torch.float64, device=values.device).scatter_reduce(
        0, group, position, reduce="amax"
    )
    sorted_ranks = ((first + last) / 2 + 1)[group].view(rows, size)
    return torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)


def spearman(a: Tensor, b: Tensor, *, channel_rule: str | None = "abs_sum") -> Tensor:
    """Per-example Spearman correlation ``(B,)`` in [-1, 1]: the Pearson correlation of average ranks.

    A constant map has no ranking, and gives NaN (as scipy).

    Args:
        a, b: maps ``(B, C, H, W)`` (reduced by ``channel_rule``) or ``(B, H, W)``.
        channel_rule: see ``reduce_channels``; ``None`` treats channels as separate features.

    Example:
        >>> rho = spearman(torch.tensor([[[1.0, 2.0, 2.0]]]), torch.tensor([[[1.0, 3.0, 2.0]]]))
        >>> round(rho.item(), 4)
        0.866
    """
    a, b = paired_maps(a, b, channel_rule)
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(dim=1, keepdim=True), rb - rb.mean(dim=1, keepdim=True)
    rho = (ra * rb).sum(dim=1) / (ra.norm(dim=1) * rb.norm(dim=1))
    return rho.to(a.dtype)
