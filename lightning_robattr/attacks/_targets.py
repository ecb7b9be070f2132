"""Target labels for targeted attacks."""

import torch
from torch import Tensor


def random_targets(y: Tensor, num_classes: int, *, generator: torch.Generator | None = None) -> Tensor:
    """A uniformly random wrong class per example, ``(y + 1 + randint(num_classes - 1)) mod num_classes``.

    The target protocol of the unforeseen-attack evaluation in "Proper Network Interpretability
    Helps Adversarial Robustness" (Table 5).

    Example:
        >>> random_targets(torch.tensor([0, 9]), 10, generator=torch.Generator().manual_seed(0))
        tensor([9, 0])
    """
    if num_classes < 2:
        raise ValueError(f"random targets need at least 2 classes, got {num_classes}")
    device = y.device if generator is None else generator.device
    shift = torch.randint(num_classes - 1, y.shape, generator=generator, device=device).to(y.device)
    return (y + 1 + shift) % num_classes
