"""Mass-centre dislocation: how far (in pixels) the centre of attribution mass moves."""

import torch
from torch import Tensor

from ._reduce_channels import paired_maps


def mass_center(maps: Tensor) -> Tensor:
    """Centre ``(B, 2)`` (row, column) of the mass ``|m| / sum |m|`` of maps ``(B, H, W)``, in pixels."""
    mass = maps.abs()
    mass = mass / mass.sum(dim=(1, 2), keepdim=True)
    rows = torch.arange(maps.shape[1], dtype=maps.dtype, device=maps.device)
    cols = torch.arange(maps.shape[2], dtype=maps.dtype, device=maps.device)
    return torch.stack([(mass.sum(dim=2) * rows).sum(dim=1), (mass.sum(dim=1) * cols).sum(dim=1)], dim=1)


def mass_center_dislocation(
    a: Tensor, b: Tensor, *, int_cast: bool = False, channel_rule: str = "abs_sum"
) -> Tensor:
    """Per-example distance ``(B,)`` in pixels between the mass centres of ``a`` and ``b`` (lower = more similar).

    ``C(z) = sum_ij n(z)_ij (i, j)`` with ``n(z) = |z| / sum |z|``, ``i`` the row. ``int_cast=True``
    truncates both centres to integers first, as the Ghorbani and SSR code do (use it to reproduce).
    An example whose ``a`` or ``b`` is all zero after channel reduction has no mass and gives NaN
    (``0 / 0``); a constant non-zero map has a defined centre (the middle of the grid) and is kept.

    Args:
        a, b: maps ``(B, C, H, W)`` (reduced by ``channel_rule``) or ``(B, H, W)``.

    Example:
        >>> a = torch.zeros(1, 3, 3); a[0, 0, 0] = 1
        >>> b = torch.zeros(1, 3, 3); b[0, 2, 2] = 1
        >>> round(mass_center_dislocation(a, b).item(), 4)
        2.8284
    """
    a, b = paired_maps(a, b, channel_rule, flatten=False)
    ca, cb = mass_center(a), mass_center(b)
    if int_cast:
        ca, cb = ca.trunc(), cb.trunc()
    return (ca - cb).norm(dim=1)
