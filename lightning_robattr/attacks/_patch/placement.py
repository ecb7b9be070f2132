"""Where a patch goes: its size from a fraction of the image, its placements, pasting it (pixels replaced, not added)."""

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor


def check_size(size: float) -> None:
    """Raise unless ``size``, a patch's share of the image area, lies in (0, 1]."""
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 < size <= 1:
        raise ValueError(f"size must be the patch's share of the image area in (0, 1], got {size}; e.g. 0.1")


def check_placement(placement: str | Sequence[int]) -> None:
    """Raise unless ``placement`` is ``"random"`` or one ``(row, col)`` corner of integers >= 0."""
    if isinstance(placement, str):
        if placement != "random":
            raise ValueError(f"placement must be 'random' or a (row, col) corner, got {placement!r}")
    elif len(placement) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in placement):
        raise ValueError(f"placement must be 'random' or a (row, col) corner of two integers >= 0, got {placement!r}")


def patch_shape(image_shape: Sequence[int], size: float) -> tuple[int, int]:
    """``(h, w)`` of a patch covering ``size`` of an ``(H, W)`` image's area (square for square images, at least 1 x 1)."""
    check_size(size)
    height, width = image_shape[-2:]
    side = math.sqrt(size)
    return max(1, round(height * side)), max(1, round(width * side))


def patch_locations(
    count: int, image_shape: Sequence[int], patch_hw: tuple[int, int], placement: str | Sequence[int], *,
    generator: torch.Generator | None = None, device: torch.device | str = "cpu",
) -> Tensor:
    """``(count, 2)`` top-left corners ``(row, col)``: uniform over the image (``"random"``) or one fixed ``(row, col)``."""
    height, width = image_shape[-2:]
    h, w = patch_hw
    check_placement(placement)
    if isinstance(placement, str):
        rows = torch.randint(0, height - h + 1, (count,), generator=generator)
        cols = torch.randint(0, width - w + 1, (count,), generator=generator)
        return torch.stack([rows, cols], dim=1).to(device)
    row, col = (int(v) for v in placement)
    if not (0 <= row <= height - h and 0 <= col <= width - w):
        raise ValueError(f"a {h}x{w} patch at ({row}, {col}) does not fit a {height}x{width} image; rows 0..{height - h}, cols 0..{width - w}")
    return torch.tensor([[row, col]], device=device).expand(count, 2)


def patch_masks(image_shape: Sequence[int], patch_hw: tuple[int, int], locations: Tensor) -> Tensor:
    """``(B, 1, H, W)`` bool: the window each patch covers."""
    height, width = image_shape[-2:]
    rows = torch.arange(height, device=locations.device)[None, :, None]
    cols = torch.arange(width, device=locations.device)[None, None, :]
    top, left = locations[:, 0, None, None], locations[:, 1, None, None]
    inside = (rows >= top) & (rows < top + patch_hw[0]) & (cols >= left) & (cols < left + patch_hw[1])
    return inside[:, None]


def apply_patch(x: Tensor, patch: Tensor, locations: Tensor) -> Tensor:
    """``x (B, C, H, W)`` with ``patch (C, h, w)`` pasted at each image's ``locations (B, 2)`` top-left corner.

    The patch replaces the pixels of its window (it is not added); everything else is unchanged.
    Differentiable with respect to the patch.
    """
    batch, _, height, width = x.shape
    h, w = patch.shape[-2:]
    mask = patch_masks(x.shape, (h, w), locations)
    # place the patch on a blank canvas per image: pad it to the image size at its corner
    canvases = torch.stack([
        torch.nn.functional.pad(patch, (int(c), width - w - int(c), int(r), height - h - int(r))) for r, c in locations.tolist()
    ]) if batch else x
    return torch.where(mask, canvases, x)
