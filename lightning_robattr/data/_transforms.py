"""Image transforms that end in float pixels: ``(C, H, W)`` float32 in [0, 1]."""

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.transforms import v2


def to_pixels(augmentations: Sequence[nn.Module] = ()) -> v2.Compose:
    """PIL image or uint8 array -> optional ``augmentations`` -> plain ``(C, H, W)`` float32 tensor in [0, 1]."""
    return v2.Compose([v2.ToImage(), *augmentations, v2.ToDtype(torch.float32, scale=True), v2.ToPureTensor()])
