"""Ghorbani et al.'s attack on influence functions: one signed step that changes which training images explain a prediction."""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_eps, check_positive_int
from ...attributions._influence import LastLayerInfluence
from ...metrics.functional import spearman, topk_intersection
from ...models import evaluation_mode


class InfluenceAttackRecord(NamedTuple):
    """Attributes:
    label_kept: ``(B,)`` whether the prediction is unchanged.
    rank_correlation: ``(B,)`` Spearman correlation of the clean and attacked influence scores over the training set.
    top_overlap: ``(B,)`` share of the clean ``overlap_k`` most influential training images still among the attacked ones.
    Both are NaN for an image whose clean or attacked scores are all equal (no ranking): average with ``torch.nanmean``.
    """

    label_kept: Tensor
    rank_correlation: Tensor
    top_overlap: Tensor


def influence_attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    influence: LastLayerInfluence,
    eps: float,
    k: int = 3,
    overlap_k: int = 5,
    random: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, InfluenceAttackRecord]:
    """``x' = clip(x - eps sign(grad_x sum_{i in top-k} s_i(x)))``: lower the influence of the ``k`` most influential training images.

    ``s_i`` are ``influence.scores`` (Koh & Liang through the last layer, the exact Hessian) for the
    labels ``y`` (the clean predictions in "Interpretation of Neural Networks is Fragile", Section 3.8);
    with ``random=True`` the baseline, ``x + eps s`` with uniform random signs. One step, so the cost is
    one forward and one double-free backward pass; the last layer's gradient is first order in ``x``
    (ReLU nets need no surrogate).

    Returns:
        ``(x_adv, InfluenceAttackRecord)``, measured on the model.
    """
    x, y = check_batch(model, x, {"y": y}, required=("y",))
    check_eps(eps)
    check_positive_int(k, "k")
    check_positive_int(overlap_k, "overlap_k")
    with evaluation_mode(model):
        with torch.no_grad():
            clean_scores, label = influence.scores(x, y), model(x).argmax(dim=1)
        if random:
            signs = torch.randint(0, 2, x.shape, generator=generator).to(x) * 2 - 1
            x_adv = (x + eps * signs).clamp(0, 1)
        else:
            top = clean_scores.topk(k, dim=1).indices
            x_var = x.detach().requires_grad_(True)
            with torch.enable_grad():
                (grad,) = torch.autograd.grad(influence.scores(x_var, y).gather(1, top).sum(), x_var)
            x_adv = (x - eps * grad.sign()).clamp(0, 1)
        with torch.no_grad():
            adv_scores, adv_label = influence.scores(x_adv, y), model(x_adv).argmax(dim=1)
    record = InfluenceAttackRecord(
        adv_label == label,
        spearman(clean_scores, adv_scores, channel_rule=None),
        topk_intersection(clean_scores, adv_scores, k=overlap_k, channel_rule=None),
    )
    return x_adv.detach(), record
