"""How attacks hand back their result: the images, and on request the success mask."""

import torch
from torch import Tensor, nn

from .classification_losses import succeeded


def attack_result(
    model: nn.Module, x_adv: Tensor, y: Tensor, *, targeted: bool, return_success: bool
) -> Tensor | tuple[Tensor, Tensor]:
    """``x_adv`` detached, or ``(x_adv, success (B,) bool)`` at the cost of one forward pass."""
    x_adv = x_adv.detach()
    if not return_success:
        return x_adv
    with torch.no_grad():
        return x_adv, succeeded(model(x_adv), y, targeted=targeted)
