"""``MadryModule``: PGD adversarial training."""

import torch
from torch import Tensor, nn

from .._lightning import LRSchedulerCallable, OptimizerCallable
from ..losses import RegimeObjective, madry_loss
from ..losses._eps_ramp import RampUnit
from ._adversarial import AdversarialRegime, Norm
from ._robust_classifier import SchedulerInterval


class MadryModule(AdversarialRegime):
    """Madry et al.'s PGD adversarial training: cross-entropy on PGD examples (``losses.madry_loss``).

    Takes every option of ``AdversarialRegime`` (``net``, the optimiser, the eps/PGD/ramp options;
    defaults: the MNIST setting eps 0.3, 40 steps of 0.01), documented there, and:

    Args:
        clean_weight: weight ``w`` of the clean cross-entropy in ``(1 - w) CE(x') + w CE(x)``;
            0 (default) is Madry's objective, 0.5 the mixed baseline of "Smoothed Geometry for
            Robust Attribution".

    Logs ``train/ce_adv`` (and ``train/ce``), ``train/eps``; ``train/acc`` is on PGD examples.
    """

    regime = "madry"

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
        clean_weight: float = 0.0,
    ) -> None:
        super().__init__(
            net, optimizer, lr_scheduler, scheduler_interval, eps=eps, steps=steps, step_size=step_size, norm=norm,
            ramp_start=ramp_start, ramp_end=ramp_end, ramp_unit=ramp_unit, attack_eval_mode=attack_eval_mode,
        )
        if not 0 <= clean_weight <= 1:
            raise ValueError(f"clean_weight must lie in [0, 1], got {clean_weight}")
        self.clean_weight = clean_weight

    def adversarial_objective(self, x: Tensor, y: Tensor, eps: float) -> RegimeObjective:
        return madry_loss(self.net, x, y, clean_weight=self.clean_weight, **self.attack_options(eps))
