"""IG-NORM and IG-SUM-NORM (Chen et al., "Robust Attribution Regularization")."""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_choice
from ..attacks._ascent import projected_gradient_ascent
from ..attacks._threat_models import threat_model
from ..attributions import integrated_gradients
from ._modes import inner_maximisation_mode
from ._objective import RegimeObjective

IG_LOSSES = ("example_loss", "batch_mean_loss")


def ig_norm_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float = 0.3,
    steps: int = 40,
    step_size: float = 0.01,
    gamma: float = 1.0,
    ig_steps: int = 50,
    approx_factor: int = 5,
    sum_variant: bool = False,
    ig_of: Literal["example_loss", "batch_mean_loss"] = "example_loss",
    norm: Literal["linf", "l2"] = "linf",
    attack_eval_mode: bool = True,
    generator: torch.Generator | None = None,
) -> RegimeObjective:
    """IG-NORM ``CE(f(x), y) + gamma max_{x'} ||IG(x, x')||_1`` or IG-SUM-NORM ``max_{x'} CE(f(x'), y) + gamma ||IG(x, x')||_1``.

    The inner maximisation (``steps`` PGD steps from a uniform random start, double backward)
    ascends ``||IG||_1`` (IG-NORM) or ``CE(f(x')) + gamma ||IG||_1`` (IG-SUM-NORM) with the
    ``ig_steps / approx_factor``-point IG; the outer loss uses the full ``ig_steps``-point IG
    with a graph, so its parameter gradient is a double backward. The L1 norm is per image,
    averaged over the batch (the code's batch sums have the same ratio). ``eps = 0`` skips
    both (the IG term is then 0).

    ``IG(x, x')`` is ``attributions.integrated_gradients`` of the loss (``score="ce"``, label ``y``)
    from the baseline ``x`` to ``x'`` by the right-Riemann rule, all points of a batch in one
    forward pass: Chen et al.'s thinned sum over ``k = af, 2 af, ..., m`` is that rule with
    ``m / af`` points. Completeness: ``sum IG ~= CE(f(x')) - CE(f(x))``.

    Args:
        model: classifier on pixel-space images; pass the raw net, not a DDP wrapper.
        x: images ``(B, C, H, W)`` in [0, 1]; y: labels ``(B,)``.
        eps, steps, step_size: budget, PGD iterations, step length in pixel units (Chen et
            al.'s MNIST 0.3 / 40 / 0.01; CIFAR 8/255 / 7 / 2/255).
        gamma: weight of the IG norm (Chen et al.'s lambda for IG-NORM, beta for IG-SUM-NORM;
            MNIST 1.0 / 0.1, "Smoothed Geometry for Robust Attribution" 0.1 on CIFAR).
        ig_steps, approx_factor: IG resolution ``m`` and the inner loop's thinning (MNIST 50 / 5;
            the Int paper's code uses a 5-point IG inside and out: 5 / 1).
        sum_variant: IG-SUM-NORM instead of IG-NORM.
        ig_of: ``"example_loss"``: each image's IG of its own cross-entropy (Chen et al.);
            ``"batch_mean_loss"``: the IG of the batch-mean cross-entropy, i.e. each image's IG
            divided by the batch size ``B``, as the code of "Proper Network Interpretability Helps
            Adversarial Robustness" trains its IG-Norm baselines (an effective weight ``gamma / B``).
        attack_eval_mode: run the inner loop with the net in eval mode.

    Returns:
        ``RegimeObjective`` with the clean logits (adversarial for IG-SUM-NORM) and parts
        ``ce`` (``ce_adv`` for IG-SUM-NORM) and ``penalty`` (the IG norm).
    """
    check_ig_resolution(ig_steps, approx_factor)
    check_choice(ig_of, IG_LOSSES, name="ig_of")
    threat = threat_model(norm, eps)
    ig_scale = 1.0 / len(x) if ig_of == "batch_mean_loss" else 1.0

    def ig_norm(x_end: Tensor, points: int) -> Tensor:
        """``||IG(x, x_end)||_1`` per image ``(B,)``: the loss IG from ``x`` with ``points`` right-Riemann points, in one pass.

        ``__wrapped__``: the net runs in the mode it is in (train mode in the outer loss), not in the attribution's eval mode.
        """
        ig = integrated_gradients.__wrapped__(
            model, x_end, y, baseline=x, steps=points, internal_batch_size=points * len(x), score="ce", create_graph=True
        )
        return ig.abs().flatten(1).sum(dim=1) * ig_scale

    def inner_objective(x_adv: Tensor) -> Tensor:
        value = ig_norm(x_adv, ig_steps // approx_factor)
        return F.cross_entropy(model(x_adv), y, reduction="none") + gamma * value if sum_variant else value

    x_adv = x
    if eps > 0:
        with inner_maximisation_mode(model, eval_mode=attack_eval_mode):
            x_adv = projected_gradient_ascent(lambda z, _: inner_objective(z), x, threat, steps=steps, step_size=step_size, generator=generator)
    logits = model(x_adv if sum_variant else x)
    ce = F.cross_entropy(logits, y)
    penalty = ig_norm(x_adv, ig_steps).mean() if eps > 0 else ce.new_zeros(())
    name = "ce_adv" if sum_variant else "ce"
    return RegimeObjective(ce + gamma * penalty, logits, {name: ce.detach(), "penalty": penalty.detach()})


def check_ig_resolution(ig_steps: int, approx_factor: int) -> None:
    """Raise unless ``ig_steps`` is a positive multiple of ``approx_factor`` (the inner IG's thinning)."""
    if ig_steps < 1 or approx_factor < 1 or ig_steps % approx_factor:
        raise ValueError(
            f"ig_steps must be a positive multiple of approx_factor (the inner IG uses ig_steps / approx_factor points), "
            f"got ig_steps={ig_steps}, approx_factor={approx_factor}; e.g. ig_steps=50, approx_factor=5"
        )
