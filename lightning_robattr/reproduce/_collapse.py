"""Collapsed models: a network that predicts one class (or barely beats chance) is a failed training, not a result."""

import torch
from torch import Tensor, nn

from ..models import evaluation_mode

CHANCE_MARGIN = 0.1
"""Clean accuracy within this of chance (``1 / classes``) counts as collapsed."""
DOMINANCE = 0.9
"""One class predicted for at least this share of the images counts as collapsed."""


def collapse_reason(net: nn.Module, x: Tensor, y: Tensor) -> str | None:
    """Why ``net`` counts as collapsed on images ``x (N, C, H, W)`` with labels ``y (N,)``, or ``None`` when it does not.

    Collapsed: clean accuracy within ``CHANCE_MARGIN`` of chance, or one class predicted for at least
    ``DOMINANCE`` of the images. A reproduction flags such a model in its report and scores none of its numbers.

    Example:
        >>> constant = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> _ = nn.init.zeros_(constant[1].weight); _ = nn.init.constant_(constant[1].bias, 0.0)
        >>> collapse_reason(constant, torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2]))
        'clean accuracy 0.333 (chance 0.333); predicts class 0 for 100% of the images'
    """
    with evaluation_mode(net), torch.no_grad():
        logits = net(x)
    predicted = logits.argmax(dim=1)
    accuracy = (predicted == y).float().mean().item()
    chance = 1 / logits.shape[1]
    top_class = torch.mode(predicted).values
    share = (predicted == top_class).float().mean().item()
    if accuracy > chance + CHANCE_MARGIN and share < DOMINANCE:
        return None
    return f"clean accuracy {accuracy:.3f} (chance {chance:.3f}); predicts class {int(top_class)} for {share:.0%} of the images"
