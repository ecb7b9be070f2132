"""The natural objective: plain cross-entropy."""

import torch.nn.functional as F
from torch import Tensor, nn

from ._objective import RegimeObjective


def natural_loss(model: nn.Module, x: Tensor, y: Tensor) -> RegimeObjective:
    """Cross-entropy of ``model(x)`` against labels ``y (B,)``; ``x`` is ``(B, C, H, W)`` in [0, 1]."""
    logits = model(x)
    ce = F.cross_entropy(logits, y)
    return RegimeObjective(ce, logits, {"ce": ce.detach()})
