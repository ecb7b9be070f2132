"""Madry et al.'s PGD adversarial training objective."""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attacks._ascent import projected_gradient_ascent
from ..attacks._threat_models import threat_model
from ._modes import inner_maximisation_mode
from ._objective import RegimeObjective


def madry_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float = 0.3,
    steps: int = 40,
    step_size: float = 0.01,
    norm: Literal["linf", "l2"] = "linf",
    clean_weight: float = 0.0,
    random_start: bool = True,
    attack_eval_mode: bool = True,
    generator: torch.Generator | None = None,
) -> RegimeObjective:
    """Cross-entropy on PGD examples: ``min_theta E max_{x' in B(x, eps)} CE(f(x'), y)``.

    The inner maximisation is ``steps`` PGD steps on the per-example cross-entropy from a
    uniform random start (detached; no parameter gradient is touched). ``eps = 0`` skips it
    and trains naturally, as the first steps of an eps ramp do.

    Args:
        model: classifier on pixel-space images; pass the raw net, not a DDP wrapper.
        x: images ``(B, C, H, W)`` in [0, 1]; y: labels ``(B,)``.
        eps: budget in pixel units (MNIST 0.3, CIFAR 8/255 for L-inf).
        steps, step_size: PGD iterations and step length (pixel units; MNIST 40 / 0.01, CIFAR 10 / 2/255).
        norm: ``"linf"`` or ``"l2"``.
        clean_weight: ``w`` in ``(1 - w) CE(x') + w CE(x)``; 0 is Madry's objective, 0.5 the
            mixed variant used as the baseline of "Smoothed Geometry for Robust Attribution".
        random_start: start PGD at a uniform random point of the ball.
        attack_eval_mode: run PGD with the net in eval mode (BatchNorm running statistics).

    Returns:
        ``RegimeObjective`` with the adversarial logits and parts ``ce_adv`` (and ``ce`` when
        ``clean_weight > 0``).

    Example:
        >>> from lightning_robattr.models import Small
        >>> loss, logits, parts = madry_loss(Small(), torch.rand(4, 1, 28, 28), torch.arange(4), eps=0.3, steps=2)
        >>> loss.backward()
    """
    threat = threat_model(norm, eps)
    x_adv = x
    if eps > 0 and steps > 0:
        with inner_maximisation_mode(model, eval_mode=attack_eval_mode):
            x_adv = projected_gradient_ascent(
                lambda z, _: F.cross_entropy(model(z), y, reduction="none"),
                x,
                threat,
                steps=steps,
                step_size=step_size,
                random_start=random_start,
                generator=generator,
            )
    logits_adv = model(x_adv)
    ce_adv = F.cross_entropy(logits_adv, y)
    if clean_weight == 0:
        return RegimeObjective(ce_adv, logits_adv, {"ce_adv": ce_adv.detach()})
    ce = F.cross_entropy(model(x), y)
    loss = (1 - clean_weight) * ce_adv + clean_weight * ce
    return RegimeObjective(loss, logits_adv, {"ce": ce.detach(), "ce_adv": ce_adv.detach()})
