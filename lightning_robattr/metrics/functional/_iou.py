"""Intersection over union of the top cells of two maps, averaged over a grid of sizes (the ADV2 paper's IoU test)."""

from collections.abc import Sequence

import torch
from torch import Tensor

from ._degenerate import constant_maps
from ._reduce_channels import paired_maps
from ._topk_intersection import topk_indices

IOU_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)


def iou(a: Tensor, b: Tensor, *, k: Sequence[float | int] | float | int = IOU_GRID, channel_rule: str | None = "abs_sum") -> Tensor:
    """Per-example IoU ``(B,)`` in [0, 1] of the top cells of maps ``a`` and ``b``, averaged over the sizes ``k``.

    Each map is binarised by keeping its ``k`` largest cells (a fraction in (0, 1) of the cells,
    rounded and at least 1, or a count); ``IoU = |S_a & S_b| / |S_a | S_b|``. Both sets have the
    same size, so with ``t`` the top-k intersection at that size, ``IoU = t / (2 - t)``. Ties go to
    the lower flat index (a stable sort), as in ``topk_intersection``. Higher: more similar maps.

    Degenerate maps: an example whose ``a`` or ``b`` is constant after channel reduction (all cells
    equal, an all-zero map included; see ``constant_maps``) has no top cells and gives NaN, not the
    tie-order value 1.0 that would read as perfectly robust. Average with ``torch.nanmean`` (or a
    metric class, which leaves NaN examples out and counts them).

    Args:
        a, b: maps ``(B, C, H, W)`` (reduced by ``channel_rule``) or ``(B, H, W)``.
        k: one size or a grid (default 10 %, 20 %, ..., 50 % of the cells).
        channel_rule: see ``reduce_channels``.

    Example:
        >>> a = torch.tensor([[[3.0, 2.0], [1.0, 0.0]]]); b = torch.tensor([[[0.0, 2.0], [3.0, 1.0]]])
        >>> iou(a, b, k=2).tolist()  # top-2 sets {0, 1} and {2, 1}: 1 shared of 3
        [0.3333333432674408]
    """
    a, b = paired_maps(a, b, channel_rule)
    sizes = [k] if isinstance(k, (int, float)) else list(k)
    if not sizes:
        raise ValueError("k must name at least one size, e.g. k=[0.1, 0.2, 0.3, 0.4, 0.5]")
    values = []
    for size in sizes:
        count = cell_count(size, a.shape[1])
        in_a = torch.zeros_like(a, dtype=torch.bool).scatter_(1, topk_indices(a, count), True)
        in_b = torch.zeros_like(b, dtype=torch.bool).scatter_(1, topk_indices(b, count), True)
        values.append((in_a & in_b).sum(dim=1).to(a.dtype) / (in_a | in_b).sum(dim=1).to(a.dtype))
    degenerate = constant_maps(a, channel_rule=None) | constant_maps(b, channel_rule=None)
    return torch.stack(values).mean(dim=0).masked_fill(degenerate, float("nan"))


def cell_count(size: float | int, cells: int) -> int:
    """The number of top cells ``size`` means on a map of ``cells``: a fraction in (0, 1) (rounded, at least 1) or a count."""
    if isinstance(size, float) and 0 < size < 1:
        return max(1, round(size * cells))
    if isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= cells:
        return size
    raise ValueError(f"each k must be a fraction in (0, 1) or a count in [1, {cells}], got {size!r}")
