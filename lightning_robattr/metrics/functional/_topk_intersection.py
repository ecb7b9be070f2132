"""Top-k intersection of two attribution maps, in Ghorbani et al.'s and the SSR paper's definitions."""

import torch
from torch import Tensor

from ._degenerate import constant_maps
from ._reduce_channels import paired_maps

TOPK_MODES = ("set", "mass")


def topk_indices(maps: Tensor, k: int) -> Tensor:
    """Indices ``(B, k)`` of the ``k`` largest entries of each row of ``(B, P)``; ties go to the lower index."""
    return torch.sort(maps, dim=1, descending=True, stable=True).indices[:, :k]


def topk_intersection(
    a: Tensor, b: Tensor, *, k: int, mode: str = "set", channel_rule: str | None = "abs_sum"
) -> Tensor:
    """Per-example top-k intersection ``(B,)`` of clean maps ``a`` and perturbed maps ``b``, in [0, 1].

    ``mode="set"`` (Ghorbani et al., and the SSR/Ghorbani/Chen code): ``|TopK(a) & TopK(b)| / k``
    on the values as given (symmetric in ``a``, ``b``). ``mode="mass"`` (SSR paper, App. C1 text):
    ``sum_{i in TopK(|a|)} |b_i| / sum |b|``, the share of the perturbed map's mass on the original top-k.
    Ties are broken by a stable descending sort (the lower flat index wins).

    Degenerate maps: an example whose ``a`` or ``b`` is constant after channel reduction (all cells
    equal, an all-zero map included; see ``constant_maps``) has no top-k set and gives NaN in both
    modes, rather than a value set by the tie order (two flat maps would otherwise score 1.0, as if
    perfectly robust). The metric classes leave NaN examples out of the mean.

    Args:
        a, b: maps ``(B, C, H, W)`` (reduced by ``channel_rule``) or ``(B, H, W)``.
        k: number of top features.
        mode: ``"set"`` or ``"mass"``.
        channel_rule: see ``reduce_channels``; ``None`` treats channels as separate features.

    Example:
        >>> a = torch.tensor([[[3.0, 2.0], [1.0, 0.0]]]); b = torch.tensor([[[0.0, 2.0], [3.0, 1.0]]])
        >>> topk_intersection(a, b, k=2).tolist()
        [0.5]
    """
    if mode not in TOPK_MODES:
        raise ValueError(f"mode must be one of {TOPK_MODES}, got {mode!r}")
    a, b = paired_maps(a, b, channel_rule)
    if not 1 <= k <= a.shape[1]:
        raise ValueError(f"k must be in [1, {a.shape[1]}], got {k}")
    degenerate = constant_maps(a, channel_rule=None) | constant_maps(b, channel_rule=None)
    if mode == "mass":
        b = b.abs()
        value = b.gather(1, topk_indices(a.abs(), k)).sum(dim=1) / b.sum(dim=1)
    else:
        in_a = torch.zeros_like(a, dtype=torch.bool).scatter_(1, topk_indices(a, k), True)
        in_b = torch.zeros_like(b, dtype=torch.bool).scatter_(1, topk_indices(b, k), True)
        value = (in_a & in_b).sum(dim=1).to(a.dtype) / k
    return value.masked_fill(degenerate, float("nan"))
