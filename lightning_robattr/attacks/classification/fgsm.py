"""Fast gradient sign method (Goodfellow et al., Explaining and Harnessing Adversarial Examples)."""

from torch import Tensor, nn

from ..records import SuccessRecord
from .pgd import pgd


def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, targeted: bool = False, loss: str = "ce") -> tuple[Tensor, SuccessRecord]:
    """``clip_[0,1](x + eps * sign(grad_x CE(f(x), y)))``; targeted: ``clip(x - eps * sign(grad_x CE(f(x), t)))``.

    One L-inf PGD step of length ``eps`` from ``x`` (no random start). Cost: 1 forward + 1 backward.

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1].
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: true labels ``(B,)``, or target labels when ``targeted``.
        eps: L-inf budget in pixel units (e.g. 0.3 on MNIST, 8/255 on CIFAR).
        targeted: step towards ``y`` instead of away from it.
        loss: ``"ce"`` or ``"cw"``.

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
    return pgd(model, x, y, eps=eps, steps=1, step_size=eps, norm="linf", random_start=False, targeted=targeted, loss=loss)
