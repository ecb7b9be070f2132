"""The accuracy bookkeeping shared by the classification-attack callbacks."""

from collections.abc import Callable

import torch
from torch import Tensor, nn


def still_correct(model: nn.Module, x: Tensor, y: Tensor, attacked: Tensor, attack: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """``(B,)`` bool: the examples of the mask ``attacked`` that ``attack(x, y) -> x_adv`` leaves classified as ``y``.

    Only the ``attacked`` examples (e.g. the correctly classified ones) are attacked; the others
    count as not correct, so the mean over the batch is an accuracy in which clean errors are errors.
    """
    still = torch.zeros_like(attacked)
    if attacked.any():
        x_adv = attack(x[attacked], y[attacked])
        with torch.no_grad():
            still[attacked] = model(x_adv).argmax(dim=1) == y[attacked]
    return still
