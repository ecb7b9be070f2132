"""TRADES (Zhang et al.): clean cross-entropy plus the worst-case KL divergence in the eps ball."""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attacks._ascent import projected_gradient_ascent
from ..attacks._threat_models import threat_model
from ._modes import clean_reference, inner_maximisation_mode
from ._objective import RegimeObjective


def trades_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float = 0.3,
    steps: int = 40,
    step_size: float = 0.01,
    beta: float = 1.0,
    norm: Literal["linf", "l2"] = "linf",
    start: Literal["normal", "uniform"] = "normal",
    start_std: float = 0.001,
    attack_eval_mode: bool = True,
    generator: torch.Generator | None = None,
) -> RegimeObjective:
    """``CE(f(x), y) + beta * (1/B) sum_b KL(softmax f(x_b) || softmax f(x'_b))``, x' maximising the KL.

    The inner maximisation runs ``steps`` projected signed-gradient steps on the per-example
    KL to the detached clean prediction, from ``x + start_std * N(0, I)`` (the TRADES code)
    or from a uniform point of the ball (``start="uniform"``, the code of "Proper Network
    Interpretability Helps Adversarial Robustness"). That prediction comes from the inner
    loop's mode: a separate eval-mode pass for nets with BatchNorm or dropout under
    ``attack_eval_mode``, the outer loss's clean pass otherwise. ``eps = 0`` skips the inner loop (the KL is then 0).
    In the outer loss both distributions keep their graph, as in the TRADES code.

    The whole objective runs in fp32, autocast off, even under mixed precision: the KL
    compares two nearly equal predictions, and bf16/fp16 logits carry rounding errors as
    large as their difference (on MNIST, eps 0.1, the KL came out 0.58 under bf16 autocast
    against 0.13 in fp32). The inner loop, most of the cost, is fp32 in every regime anyway.

    Args:
        model: classifier on pixel-space images; pass the raw net, not a DDP wrapper.
        x: images ``(B, C, H, W)`` in [0, 1]; y: labels ``(B,)``.
        eps, steps, step_size: budget, iterations, step length in pixel units
            (MNIST 0.3 / 40 / 0.01; CIFAR 0.031 / 10 / 0.007).
        beta: KL weight (TRADES MNIST 1.0, CIFAR 6.0).
        norm: ``"linf"`` or ``"l2"``.
        attack_eval_mode: run the inner loop with the net in eval mode (the TRADES convention).

    Returns:
        ``RegimeObjective`` with the clean logits and parts ``ce`` and ``penalty`` (the KL).

    Example:
        >>> from lightning_robattr.models import Small
        >>> loss, logits, parts = trades_loss(Small(), torch.rand(4, 1, 28, 28), torch.arange(4), eps=0.3, steps=2)
        >>> sorted(parts)
        ['ce', 'penalty']
    """
    if start not in ("normal", "uniform"):
        raise ValueError(f"unknown TRADES start {start!r}; choose 'normal' or 'uniform'")
    # autocast off: see the docstring (the KL compares two nearly equal predictions)
    with torch.autocast(x.device.type, enabled=False):
        threat = threat_model(norm, eps)
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        if eps == 0:
            zero = ce.new_zeros(())
            return RegimeObjective(ce, logits, {"ce": ce.detach(), "penalty": zero})
        reference = clean_reference(model, x, logits, model, eval_mode=attack_eval_mode)
        with inner_maximisation_mode(model, eval_mode=attack_eval_mode):
            p_clean = F.softmax(reference, dim=1)
            gaussian = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if start == "normal" else None
            x_adv = projected_gradient_ascent(
                lambda z, _: F.kl_div(F.log_softmax(model(z), dim=1), p_clean, reduction="none").sum(dim=1),
                x,
                threat,
                steps=steps,
                step_size=step_size,
                start=None if gaussian is None else x.detach() + start_std * gaussian,
                generator=generator,
            )
        kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
        return RegimeObjective(ce + beta * kl, logits, {"ce": ce.detach(), "penalty": kl.detach()})
