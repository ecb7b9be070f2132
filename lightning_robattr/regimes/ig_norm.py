"""``IGNormModule``: IG-NORM and IG-SUM-NORM (Chen et al., "Robust Attribution Regularization")."""

from typing import Any, Literal

from torch import Tensor

from ..losses import RegimeObjective, ig_norm_loss
from .._validation import check_choice
from ..losses.ig_norm import IG_LOSSES, check_ig_resolution
from .adversarial import AdversarialRegime


class IGNormModule(AdversarialRegime):
    """IG-NORM ``CE(x) + gamma max ||IG(x, x')||_1`` or, with ``sum_variant``, IG-SUM-NORM
    ``max CE(x') + gamma ||IG(x, x')||_1`` (``losses.ig_norm_loss``).

    Args:
        gamma: weight of the IG norm (Chen et al. MNIST: 1.0 for IG-NORM, 0.1 for IG-SUM-NORM).
        ig_steps: IG resolution ``m`` of the outer loss.
        approx_factor: the inner loop uses every ``approx_factor``-th of the ``m`` points.
        sum_variant: IG-SUM-NORM (regime name ``ig_sum_norm``) instead of IG-NORM (``ig_norm``).
        ig_of: ``"example_loss"`` (Chen et al.) or ``"batch_mean_loss"`` (the Int paper's code:
            the IG of the batch-mean loss, an effective weight ``gamma / B``); see ``losses.ig_norm_loss``.
        **kwargs: ``net``, the optimiser and the eps/inner-loop/ramp options of ``AdversarialRegime``.

    Logs ``train/ce`` (``train/ce_adv`` for IG-SUM-NORM), ``train/penalty`` (the IG norm), ``train/eps``.
    Double backward in the inner loop and the outer loss: ``torch.compile`` cannot compile the net.
    """

    regime = "ig_norm"

    def __init__(
        self,
        *args: Any,
        gamma: float = 1.0,
        ig_steps: int = 50,
        approx_factor: int = 5,
        sum_variant: bool = False,
        ig_of: Literal["example_loss", "batch_mean_loss"] = "example_loss",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
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
