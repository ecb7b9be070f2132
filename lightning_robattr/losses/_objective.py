"""What every regime objective returns."""

from typing import NamedTuple

from torch import Tensor


class RegimeObjective(NamedTuple):
    """The outcome of one regime objective on a batch.

    Attributes:
        loss: scalar to minimise; every penalty is summed into it, so each parameter gets a gradient.
        logits: ``(B, num_classes)`` logits the training accuracy is measured on (clean, or
            adversarial for regimes that train on adversarial examples only).
        parts: named scalars to log (detached), e.g. ``{"ce": ..., "penalty": ...}``.
    """

    loss: Tensor
    logits: Tensor
    parts: dict[str, Tensor]
