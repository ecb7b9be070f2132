"""Degenerate attribution maps: maps whose cells are all equal, on which no ranking or top-k set is defined."""

import torch
from torch import Tensor

from ._reduce_channels import reduce_channels


def constant_maps(maps: Tensor, *, channel_rule: str | None = "abs_sum") -> Tensor:
    """Which maps are *degenerate* ``(B,)`` bool: all their cells are equal (``max == min``) after channel reduction.

    An all-zero map is degenerate. The similarity metrics give NaN for an example whose clean or
    perturbed map is degenerate (a ranking, a top-k set or, for an all-zero map, a direction or a
    mass centre is not defined), and the metric classes leave it out of the mean.

    Args:
        maps: ``(B, C, H, W)`` (reduced by ``channel_rule``, as the similarity metrics do), ``(B, H, W)``,
            or flattened ``(B, P)``.
        channel_rule: see ``reduce_channels``; ``None`` treats channels as separate cells.

    Example:
        >>> import torch
        >>> maps = torch.stack([torch.full((1, 2, 2), 0.5), torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])])
        >>> maps.shape
        torch.Size([2, 1, 2, 2])
        >>> constant_maps(maps).tolist()
        [True, False]
        >>> constant_maps(torch.zeros(3, 4)).tolist()
        [True, True, True]
    """
    if maps.dim() not in (2, 3, 4):
        raise ValueError(f"maps must be (B, C, H, W), (B, H, W) or (B, P), got shape {tuple(maps.shape)}")
    if maps.dim() > 2 and channel_rule is not None:
        maps = reduce_channels(maps, channel_rule)
    flat = maps.flatten(1)
    if flat.shape[1] == 0:
        return flat.new_ones(flat.shape[0], dtype=torch.bool)
    return flat.amax(dim=1) == flat.amin(dim=1)
