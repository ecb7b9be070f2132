"""``TRADESModule``: clean cross-entropy plus the worst-case KL divergence (Zhang et al.)."""

from typing import Literal

import torch
from torch import Tensor, nn

from .._lightning import LRSchedulerCallable, OptimizerCallable
from ..losses import RegimeObjective, trades_loss
from ..losses._eps_ramp import RampUnit
from ._adversarial import AdversarialRegime, Norm
from ._robust_classifier import SchedulerInterval


class TRADESModule(AdversarialRegime):
    """TRADES: ``CE(f(x), y) + beta KL(f(x) || f(x'))`` with x' maximising the KL (``losses.trades_loss``).

    Takes every option of ``AdversarialRegime`` (``net``, the optimiser, the eps/inner-loop/ramp
    options), documented there, and:

    Args:
        beta: KL weight (TRADES MNIST 1.0, CIFAR 6.0).
        start: ``"normal"`` (``x + 0.001 N(0, I)``, the TRADES code) or ``"uniform"`` (the Int paper's code).

    Logs ``train/ce``, ``train/penalty`` (the KL), ``train/eps``.
    """

    regime = "trades"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: SchedulerInterval = "step",
        *,
        eps: float = 0.3,
        steps: int = 40,
        step_size: float = 0.01,
        norm: Norm = "linf",
        ramp_start: float = 0.0,
        ramp_end: float = 0.0,
        ramp_unit: RampUnit = "fraction",
        attack_eval_mode: bool = True,
        beta: float = 1.0,
        start: Literal["normal", "uniform"] = "normal",
    ) -> None:
        super().__init__(
            net, optimizer, lr_scheduler, scheduler_interval, eps=eps, steps=steps, step_size=step_size, norm=norm,
            ramp_start=ramp_start, ramp_end=ramp_end, ramp_unit=ramp_unit, attack_eval_mode=attack_eval_mode,
        )
        self.beta, self.start = beta, start

    def adversarial_objective(self, x: Tensor, y: Tensor, eps: float) -> RegimeObjective:
        return trades_loss(self.net, x, y, beta=self.beta, start=self.start, **self.attack_options(eps))
