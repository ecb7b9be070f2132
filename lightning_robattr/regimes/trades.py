"""``TRADESModule``: clean cross-entropy plus the worst-case KL divergence (Zhang et al.)."""

from typing import Any, Literal

from torch import Tensor

from ..losses import RegimeObjective, trades_loss
from .adversarial import AdversarialRegime


class TRADESModule(AdversarialRegime):
    """TRADES: ``CE(f(x), y) + beta KL(f(x) || f(x'))`` with x' maximising the KL (``losses.trades_loss``).

    Args:
        beta: KL weight (TRADES MNIST 1.0, CIFAR 6.0).
        start: ``"normal"`` (``x + 0.001 N(0, I)``, the TRADES code) or ``"uniform"`` (the Int paper's code).
        **kwargs: ``net``, the optimiser and the eps/inner-loop/ramp options of ``AdversarialRegime``.

    Logs ``train/ce``, ``train/penalty`` (the KL), ``train/eps``.
    """

    regime = "trades"

    def __init__(self, *args: Any, beta: float = 1.0, start: Literal["normal", "uniform"] = "normal", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.beta, self.start = beta, start

    def adversarial_objective(self, x: Tensor, y: Tensor, eps: float) -> RegimeObjective:
        return trades_loss(self.net, x, y, beta=self.beta, start=self.start, **self.attack_options(eps))
