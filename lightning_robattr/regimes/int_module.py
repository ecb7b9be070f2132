"""``IntModule``: interpretability-aware robust training ("Proper Network Interpretability Helps Adversarial Robustness")."""

from typing import Any, Literal

from torch import Tensor

from .._validation import check_choice
from ..losses import RegimeObjective, int_loss
from ..metrics.functional.discrepancy import WEIGHTINGS
from .adversarial import AdversarialRegime


class IntModule(AdversarialRegime):
    """Int, Int-Adv and Int-1-class: cross-entropy plus ``gamma`` times the worst-case CAM discrepancy (``losses.int_loss``).

    Args:
        gamma: discrepancy weight (0.01 in the paper).
        adversarial_loss: Int-Adv, the cross-entropy on the adversarial image (regime ``int_adv``).
        one_class: Int-1-class, only the true class's CAM (regime ``int_1class``).
        weighting: the other classes' weights in the discrepancy: ``"int_repo"`` (the authors'
            code, renormalised, the paper's tables) or ``"paper"`` (eq. 8 with its 1/2 factors).
        **kwargs: ``net`` (a CAM net: ``features`` -> GAP -> linear ``classifier``), the optimiser
            and the eps/inner-loop/ramp options of ``AdversarialRegime``.

    Logs ``train/ce`` (``train/ce_adv`` for Int-Adv), ``train/penalty`` (the mean discrepancy), ``train/eps``.
    First-order only: ``torch.compile`` can compile the net.
    """

    regime = "int"

    def __init__(
        self,
        *args: Any,
        gamma: float = 0.01,
        adversarial_loss: bool = False,
        one_class: bool = False,
        weighting: Literal["int_repo", "paper"] = "int_repo",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
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
