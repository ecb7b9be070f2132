"""``IntModule``: interpretability-aware robust training ("Proper Network Interpretability Helps Adversarial Robustness")."""

from typing import Literal

import torch
from torch import Tensor, nn

from .._lightning import LRSchedulerCallable, OptimizerCallable
from .._validation import check_choice
from ..losses import RegimeObjective, int_loss
from ..losses._eps_ramp import RampUnit
from ..metrics.functional._discrepancy import WEIGHTINGS
from ._adversarial import AdversarialRegime, Norm
from ._robust_classifier import SchedulerInterval


class IntModule(AdversarialRegime):
    """Int, Int-Adv and Int-1-class: cross-entropy plus ``gamma`` times the worst-case CAM discrepancy (``losses.int_loss``).

    Takes every option of ``AdversarialRegime`` (``net``, a CAM net: ``features`` -> GAP -> linear
    ``classifier``; the optimiser, the eps/inner-loop/ramp options), documented there, and:

    Args:
        gamma: discrepancy weight (0.01 in the paper).
        adversarial_loss: Int-Adv, the cross-entropy on the adversarial image (regime ``int_adv``).
        one_class: Int-1-class, only the true class's CAM (regime ``int_1class``).
        weighting: the other classes' weights in the discrepancy: ``"int_repo"`` (the authors'
            code, renormalised, the paper's tables) or ``"paper"`` (eq. 8 with its 1/2 factors).

    Logs ``train/ce`` (``train/ce_adv`` for Int-Adv), ``train/penalty`` (the mean discrepancy), ``train/eps``.
    First-order only: ``torch.compile`` can compile the net.
    """

    regime = "int"

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
        gamma: float = 0.01,
        adversarial_loss: bool = False,
        one_class: bool = False,
        weighting: Literal["int_repo", "paper"] = "int_repo",
    ) -> None:
        super().__init__(
            net, optimizer, lr_scheduler, scheduler_interval, eps=eps, steps=steps, step_size=step_size, norm=norm,
            ramp_start=ramp_start, ramp_end=ramp_end, ramp_unit=ramp_unit, attack_eval_mode=attack_eval_mode,
        )
        for name in ("features", "classifier"):
            if not hasattr(self.net, name):
                raise TypeError(
                    f"Int needs a CAM net with `features` and `classifier` (GAP + linear head), got {type(self.net).__name__}; "
                    "wrap other nets in lightning_robattr.models.CAMAdapter"
                )
        check_choice(weighting, WEIGHTINGS, name="weighting")
        self.gamma, self.adversarial_loss, self.one_class, self.weighting = gamma, adversarial_loss, one_class, weighting
        self.regime = "int" + ("_adv" if adversarial_loss else "") + ("_1class" if one_class else "")

    def adversarial_objective(self, x: Tensor, y: Tensor, eps: float) -> RegimeObjective:
        return int_loss(
            self.net,
            x,
            y,
            gamma=self.gamma,
            adversarial_loss=self.adversarial_loss,
            one_class=self.one_class,
            weighting=self.weighting,
            **self.attack_options(eps),
        )
