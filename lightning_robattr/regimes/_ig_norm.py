"""``IGNormModule``: IG-NORM and IG-SUM-NORM (Chen et al., "Robust Attribution Regularization")."""

from typing import Literal

import torch
from torch import Tensor, nn

from .._lightning import LRSchedulerCallable, OptimizerCallable
from .._validation import check_choice
from ..losses import RegimeObjective, ig_norm_loss
from ..losses._eps_ramp import RampUnit
from ..losses._ig_norm import IG_LOSSES, check_ig_resolution
from ._adversarial import AdversarialRegime, Norm
from ._robust_classifier import SchedulerInterval


class IGNormModule(AdversarialRegime):
    """IG-NORM ``CE(x) + gamma max ||IG(x, x')||_1`` or, with ``sum_variant``, IG-SUM-NORM
    ``max CE(x') + gamma ||IG(x, x')||_1`` (``losses.ig_norm_loss``).

    Takes every option of ``AdversarialRegime`` (``net``, the optimiser, the eps/inner-loop/ramp
    options), documented there, and:

    Args:
        gamma: weight of the IG norm (Chen et al. MNIST: 1.0 for IG-NORM, 0.1 for IG-SUM-NORM).
        ig_steps: IG resolution ``m`` of the outer loss.
        approx_factor: the inner loop uses every ``approx_factor``-th of the ``m`` points.
        sum_variant: IG-SUM-NORM (regime name ``ig_sum_norm``) instead of IG-NORM (``ig_norm``).
        ig_of: ``"example_loss"`` (Chen et al.) or ``"batch_mean_loss"`` (the Int paper's code:
            the IG of the batch-mean loss, an effective weight ``gamma / B``); see ``losses.ig_norm_loss``.

    Logs ``train/ce`` (``train/ce_adv`` for IG-SUM-NORM), ``train/penalty`` (the IG norm), ``train/eps``.
    Double backward in the inner loop and the outer loss: ``torch.compile`` cannot compile the net.
    """

    regime = "ig_norm"

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
        gamma: float = 1.0,
        ig_steps: int = 50,
        approx_factor: int = 5,
        sum_variant: bool = False,
        ig_of: Literal["example_loss", "batch_mean_loss"] = "example_loss",
    ) -> None:
        super().__init__(
            net, optimizer, lr_scheduler, scheduler_interval, eps=eps, steps=steps, step_size=step_size, norm=norm,
            ramp_start=ramp_start, ramp_end=ramp_end, ramp_unit=ramp_unit, attack_eval_mode=attack_eval_mode,
        )
        check_ig_resolution(ig_steps, approx_factor)
        check_choice(ig_of, IG_LOSSES, name="ig_of")
        self.gamma, self.ig_steps, self.approx_factor, self.sum_variant = gamma, ig_steps, approx_factor, sum_variant
        self.ig_of = ig_of
        self.regime = "ig_sum_norm" if sum_variant else "ig_norm"

    def adversarial_objective(self, x: Tensor, y: Tensor, eps: float) -> RegimeObjective:
        return ig_norm_loss(
            self.net,
            x,
            y,
            gamma=self.gamma,
            ig_steps=self.ig_steps,
            approx_factor=self.approx_factor,
            sum_variant=self.sum_variant,
            ig_of=self.ig_of,
            **self.attack_options(eps),
        )
