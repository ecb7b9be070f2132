"""What every attack returns: ``(x_adv, record)``, the detached images and a NamedTuple of what was measured.

Classification and unforeseen attacks record their success (``SuccessRecord``); the explanation
attacks record their own measurements (``AttributionAttackRecord``, ``AAIRecord``, ``ADV2Record``,
``ISAResult``), and the patch attack where its patches went (``PatchRecord``). Write ``x_adv, record = attack(model, x, y, ...)``, or ``x_adv, _ = ...``.
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._classification_losses import succeeded


class SuccessRecord(NamedTuple):
    """Attributes:
    success: ``(B,)`` bool: the prediction at ``x_adv`` equals the target (targeted) or differs from the label.
    """

    success: Tensor


def with_success(model: nn.Module, x_adv: Tensor, y: Tensor, *, targeted: bool) -> tuple[Tensor, SuccessRecord]:
    """``(x_adv detached, SuccessRecord)`` at the cost of one forward pass."""
    x_adv = x_adv.detach()
    with torch.no_grad():
        return x_adv, SuccessRecord(succeeded(model(x_adv), y, targeted=targeted))
