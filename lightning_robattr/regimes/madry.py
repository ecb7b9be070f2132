"""``MadryModule``: PGD adversarial training."""

from typing import Any

from torch import Tensor

from ..losses import RegimeObjective, madry_loss
from .adversarial import AdversarialRegime


class MadryModule(AdversarialRegime):
    """Madry et al.'s PGD adversarial training: cross-entropy on PGD examples (``losses.madry_loss``).

    Args:
        clean_weight: weight ``w`` of the clean cross-entropy in ``(1 - w) CE(x') + w CE(x)``;
            0 (default) is Madry's objective, 0.5 the mixed baseline of "Smoothed Geometry for
            Robust Attribution".
        **kwargs: ``net``, the optimiser and the eps/PGD/ramp options of ``AdversarialRegime``
            (defaults: the MNIST setting eps 0.3, 40 steps of 0.01).

    Logs ``train/ce_adv`` (and ``train/ce``), ``train/eps``; ``train/acc`` is on PGD examples.
    """

    regime = "madry"

    def __init__(self, *args: Any, clean_weight: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not 0 <= clean_weight <= 1:
            raise ValueError(f"clean_weight must lie in [0, 1], got {clean_weight}")
        self.clean_weight = clean_weight

    def adversarial_objective(self, x: Tensor, y: Tensor, eps: float) -> RegimeObjective:
        return madry_loss(self.net, x, y, clean_weight=self.clean_weight, **self.attack_options(eps))
