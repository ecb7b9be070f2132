"""Fast gradient sign method (Goodfellow et al., Explaining and Harnessing Adversarial Examples)."""

from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor, nn

from ..._validation import check_choice
from .._attack_config import AttackConfig, resolve_config
from .._budget import Budget, parse_eps
from .._classification_losses import LOSSES
from .._records import SuccessRecord
from .pgd import PGDConfig, pgd


@dataclass(frozen=True)
class FGSMConfig(AttackConfig):
    """The hyperparameters of :func:`fgsm` (the budget ``eps`` is an argument of the call).

    Attributes:
        targeted: step towards ``y`` instead of away from it.
        loss: ``"ce"`` (cross-entropy) or ``"cw"`` (Carlini-Wagner logit margin).
    """

    targeted: bool = False
    loss: Literal["ce", "cw"] = "ce"

    def check(self) -> None:
        check_choice(self.loss, LOSSES, name="loss")


def fgsm(
    model: nn.Module, x: Tensor, y: Tensor, *, eps: Budget, config: FGSMConfig | None = None, **options: Any
) -> tuple[Tensor, SuccessRecord]:
    """``clip_[0,1](x + eps * sign(grad_x CE(f(x), y)))``; targeted: ``clip(x - eps * sign(grad_x CE(f(x), t)))``.

    One L-inf PGD step of length ``eps`` from ``x`` (no random start). Cost: 1 forward + 1 backward.

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1].
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: true labels ``(B,)``, or target labels when ``targeted``.
        eps: L-inf budget in pixel units (e.g. 0.3 on MNIST, ``"8/255"`` on CIFAR).
        config: the hyperparameters (:class:`FGSMConfig`, default ``FGSMConfig()``).
        **options: fields of :class:`FGSMConfig` replaced for this call (``targeted=True``).

    Returns:
        ``(x_adv, record)``: adversarial images ``(B, C, H, W)``, detached, and a ``SuccessRecord``.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = fgsm(net, x, y, eps=0.1)
        >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6)
        True
    """
    config = resolve_config(FGSMConfig, config, options)
    one_step = PGDConfig(
        steps=1, step_size=parse_eps(eps), norm="linf", random_start=False, targeted=config.targeted, loss=config.loss
    )
    return pgd(model, x, y, eps=eps, config=one_step)
