"""Int, Int-Adv and Int-1-class ("Proper Network Interpretability Helps Adversarial Robustness", eqs. 8-9)."""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_choice
from ..attacks._ascent import projected_gradient_ascent
from ..attacks._threat_models import threat_model
from ..attributions import class_activation_maps
from ..metrics.functional import interpretation_discrepancy
from ..metrics.functional._discrepancy import WEIGHTINGS
from ._modes import clean_reference, inner_maximisation_mode
from ._objective import RegimeObjective


def label_free_discrepancy(
    clean_cams: Tensor, adv_cams: Tensor, adv_logits: Tensor, y: Tensor, *, one_class: bool = False, weighting: str = "int_repo"
) -> Tensor:
    """The target-label-free CAM discrepancy ``D(x, x')`` per example, ``(B,)``.

    ``metrics.functional.interpretation_discrepancy`` with ``classes="weighted"`` (l1 over the
    cells): with ``weighting="int_repo"`` (the authors' code, the default)
    ``D = ||L(x,t) - L(x',t)||_1 + sum_{i != t} w_i(x') ||L(x,i) - L(x',i)||_1``,
    ``w_i = p_i(x') / sum_{j != t} p_j(x')`` (the paper's softmax weights renormalised over the
    non-true classes, eq. 8's 1/2 factors dropped: gamma absorbs them); with ``"paper"`` eq. 8
    itself, ``D = 1/2 ||L(x,t) - L(x',t)||_1 + 1/2 sum_{i != t} p_i(x') ||L(x,i) - L(x',i)||_1``.
    The weights are not detached. ``one_class`` keeps only the true-class term (Int-1-class).

    Args:
        clean_cams, adv_cams: CAMs of every class ``(B, n_c, h, w)`` at ``x`` and ``x'``.
        adv_logits: logits ``(B, n_c)`` at ``x'``; y: true labels ``(B,)``.
        weighting: ``"int_repo"`` or ``"paper"``.
    """
    if one_class:
        return interpretation_discrepancy(clean_cams, adv_cams, classes="one", target=y)
    return interpretation_discrepancy(
        clean_cams, adv_cams, classes="weighted", target=y, adv_logits=adv_logits.to(clean_cams.dtype), weighting=weighting
    )


def int_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float = 0.3,
    steps: int = 40,
    step_size: float = 0.01,
    gamma: float = 0.01,
    adversarial_loss: bool = False,
    one_class: bool = False,
    weighting: Literal["int_repo", "paper"] = "int_repo",
    norm: Literal["linf", "l2"] = "linf",
    attack_eval_mode: bool = True,
    generator: torch.Generator | None = None,
) -> RegimeObjective:
    """Int ``CE(f(x), t) + gamma max_{x'} D(x, x')``; Int-Adv ``CE(f(x'), t) + gamma D(x, x')``.

    ``D`` is :func:`label_free_discrepancy` on CAMs (``attributions.class_activation_maps``,
    no ``1/(h w)``), averaged over the batch. The inner maximisation runs ``steps`` signed
    gradient steps from a uniform random start on ``D`` (Int; the clean cross-entropy is
    constant in ``x'``) or on ``CE(f(x'), t) + gamma D`` (Int-Adv, as in the authors' code),
    with the clean CAMs held fixed; those come from the inner loop's mode (a separate eval-mode
    pass for nets with BatchNorm or dropout under ``attack_eval_mode``). In the outer loss both
    CAMs and the weights keep their graph. CAMs need only first-order autograd, so a step costs
    ``(steps + 2)`` forward (one more for that separate pass) and ``(steps + 1)`` backward
    passes, like PGD training. ``eps = 0`` skips the inner loop
    (``D(x, x) = 0``).

    Args:
        model: a CAM net (``features`` -> GAP -> linear ``classifier``); pass the raw net, not a DDP wrapper.
        x: images ``(B, C, H, W)`` in [0, 1]; y: labels ``(B,)``.
        eps, steps, step_size: budget, iterations, step length in pixel units (MNIST 0.3 / 40 / 0.01,
            CIFAR 8/255 / 10 / 2/255).
        gamma: discrepancy weight (0.01 in the paper).
        adversarial_loss: Int-Adv (cross-entropy on ``x'``).
        one_class: Int-1-class (only the true class's CAM).
        weighting: the weights of the other classes in ``D``, ``"int_repo"`` (the authors' code,
            which the paper's tables come from) or ``"paper"`` (eq. 8); see :func:`label_free_discrepancy`.
        attack_eval_mode: run the inner loop with the net in eval mode.

    Returns:
        ``RegimeObjective`` with the clean logits (adversarial for Int-Adv) and parts ``ce``
        (``ce_adv`` for Int-Adv) and ``penalty`` (the mean discrepancy).

    Example:
        >>> from lightning_robattr.models import Small
        >>> loss, logits, parts = int_loss(Small(), torch.rand(4, 1, 28, 28), torch.arange(4), eps=0.3, steps=2)
        >>> loss.backward()
    """
    check_choice(weighting, WEIGHTINGS, name="weighting")
    threat = threat_model(norm, eps)
    logits, cams = class_activation_maps(model, x)
    if eps == 0:
        ce = F.cross_entropy(logits, y)
        parts = {"ce_adv" if adversarial_loss else "ce": ce.detach(), "penalty": ce.new_zeros(())}
        return RegimeObjective(ce, logits, parts)
    reference = clean_reference(model, x, cams, lambda z: class_activation_maps(model, z)[1], eval_mode=attack_eval_mode)

    def inner_objective(x_adv: Tensor, step: int) -> Tensor:
        adv_logits, adv_cams = class_activation_maps(model, x_adv)
        value = label_free_discrepancy(reference, adv_cams, adv_logits, y, one_class=one_class, weighting=weighting)
        return F.cross_entropy(adv_logits, y, reduction="none") + gamma * value if adversarial_loss else value

    with inner_maximisation_mode(model, eval_mode=attack_eval_mode):
        x_adv = projected_gradient_ascent(inner_objective, x, threat, steps=steps, step_size=step_size, generator=generator)
    adv_logits, adv_cams = class_activation_maps(model, x_adv)
    penalty = label_free_discrepancy(cams, adv_cams, adv_logits, y, one_class=one_class, weighting=weighting).mean()
    if adversarial_loss:
        ce = F.cross_entropy(adv_logits, y)
        return RegimeObjective(ce + gamma * penalty, adv_logits, {"ce_adv": ce.detach(), "penalty": penalty.detach()})
    ce = F.cross_entropy(logits, y)
    return RegimeObjective(ce + gamma * penalty, logits, {"ce": ce.detach(), "penalty": penalty.detach()})
