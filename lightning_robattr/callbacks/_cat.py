"""Reading a ``CatMetric``'s value."""

import torch
from torch import Tensor


def cat_values(value: Tensor | list) -> Tensor:
    """A ``CatMetric``'s computed value as a 1-D CPU tensor (empty when nothing was added)."""
    if isinstance(value, list):
        return torch.cat([torch.as_tensor(v).flatten() for v in value]) if value else torch.zeros(0)
    return value.flatten().cpu()
