"""Kendall's tau-b of whole maps (tie-corrected, as ``scipy.stats.kendalltau``), vectorised in O(P log^2 P)."""

import torch
from torch import Tensor

from ._reduce_channels import paired_maps


def _dense_ranks(values: Tensor) -> tuple[Tensor, Tensor]:
    """Dense integer ranks ``(B, P)`` (equal values share a rank) and the tied pairs per row ``sum_t t(t-1)/2``."""
    sorted_values, order = torch.sort(values, dim=1, stable=True)
    new_group = torch.ones_like(sorted_values, dtype=torch.bool)
    new_group[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    ranks = torch.cumsum(new_group.long(), dim=1) - 1
    return torch.empty_like(ranks).scatter_(1, order, ranks), _tied_pairs(new_group)


def _tied_pairs(new_group: Tensor) -> Tensor:
    """``sum_t t(t-1)/2`` over the runs of a sorted row, given where each run starts ``(B, P)``."""
    rows, size = new_group.shape
    run = torch.cumsum(new_group.long(), dim=1) - 1 + size * torch.arange(rows, device=new_group.device)[:, None]
    lengths = torch.zeros(rows * size, dtype=torch.long, device=new_group.device).index_add_(
        0, run.flatten(), torch.ones(rows * size, dtype=torch.long, device=new_group.device)
    )
    return (lengths * (lengths - 1) // 2).view(rows, size).sum(dim=1)


def _inversions(seq: Tensor) -> Tensor:
    """Pairs ``i < j`` with ``seq[i] > seq[j]`` in each row of a non-negative integer ``(B, P)``.

    Bottom-up merge count: at block width ``w`` each sorted left block is merged with its right
    neighbour by one sort of ``2 * value + side``; the right elements' merged positions tell how
    many left elements are greater than each of them.
    """
    rows, size = seq.shape
    length = 1 << max(size - 1, 0).bit_length()
    seq = torch.cat([seq, seq.new_full((rows, length - size), size)], dim=1)
    count = torch.zeros(rows, dtype=torch.long, device=seq.device)
    width = 1
    while width < length:
        side = torch.arange(2 * width, device=seq.device) >= width
        merged = torch.sort(2 * seq.view(rows, -1, 2 * width) + side, dim=2).values
        is_right = merged & 1
        positions = (is_right * torch.arange(2 * width, device=seq.device)).sum(dim=(1, 2))
        blocks = length // (2 * width)
        count += blocks * (width * width + width * (width - 1) // 2) - positions
        seq = (merged >> 1).view(rows, length)
        width *= 2
    return count


def kendall_tau(a: Tensor, b: Tensor, *, channel_rule: str | None = "abs_sum") -> Tensor:
    """Per-example Kendall tau-b ``(B,)`` in [-1, 1]: ``(n_c - n_d) / sqrt((n_0 - n_1)(n_0 - n_2))``.

    ``n_1``, ``n_2`` count pairs tied in ``a`` and in ``b``. A constant map gives NaN (as scipy).
    Discordant pairs are counted by sorting on ``(a, b)`` and merge-counting the inversions of ``b``.

    Args:
        a, b: maps ``(B, C, H, W)`` (reduced by ``channel_rule``) or ``(B, H, W)``.
        channel_rule: see ``reduce_channels``; ``None`` treats channels as separate features.

    Example:
        >>> tau = kendall_tau(torch.tensor([[[1.0, 2.0, 3.0]]]), torch.tensor([[[1.0, 3.0, 2.0]]]))
        >>> round(tau.item(), 4)
        0.3333
    """
    a, b = paired_maps(a, b, channel_rule)
    size = a.shape[1]
    rank_a, ties_a = _dense_ranks(a)
    rank_b, ties_b = _dense_ranks(b)
    by_b = torch.sort(rank_b, dim=1, stable=True).indices
    order = by_b.gather(1, torch.sort(rank_a.gather(1, by_b), dim=1, stable=True).indices)
    pair_a, pair_b = rank_a.gather(1, order), rank_b.gather(1, order)
    new_joint = torch.ones_like(pair_a, dtype=torch.bool)
    new_joint[:, 1:] = (pair_a[:, 1:] != pair_a[:, :-1]) | (pair_b[:, 1:] != pair_b[:, :-1])
    ties_joint = _tied_pairs(new_joint)
    total = size * (size - 1) // 2
    numerator = (total - ties_a - ties_b + ties_joint - 2 * _inversions(pair_b)).double()
    tau = numerator / ((total - ties_a).double() * (total - ties_b).double()).sqrt()
    return tau.to(a.dtype)
