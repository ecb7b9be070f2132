"""``UnforeseenConfig``: the hyperparameters the unforeseen attacks (Gabor, Snow, JPEG) share."""

from dataclasses import dataclass
from typing import Literal

from ..._validation import check_choice, check_nonnegative, check_positive_int
from .._attack_config import AttackConfig
from .._classification_losses import LOSSES


@dataclass(frozen=True)
class UnforeseenConfig(AttackConfig):
    """The base of ``GaborConfig``, ``SnowConfig`` and ``JPEGConfig`` (the budget ``eps`` is an argument of the call).

    Attributes:
        steps: signed-gradient (JPEG L2: normalised-gradient; JPEG L1: Frank-Wolfe) steps (>= 1; paper: 200).
        step_size: the step on the attack's own variables (>= 0); ``None``: the attack's default rule.
        targeted: pull towards ``y`` (the Int paper uses random wrong targets, ``random_targets``).
        loss: ``"ce"`` (cross-entropy) or ``"cw"`` (Carlini-Wagner logit margin).
    """

    steps: int = 200
    step_size: float | None = None
    targeted: bool = False
    loss: Literal["ce", "cw"] = "ce"

    def check(self) -> None:
        check_positive_int(self.steps, "steps")
        if self.step_size is not None:
            check_nonnegative(self.step_size, "step_size")
        check_choice(self.loss, LOSSES, name="loss")
