"""Scoring a detector: ROC curve, AUC with ties counted half, the true-positive rate at a false-positive rate."""

import torch
from torch import Tensor


def roc_auc(benign: Tensor, adversarial: Tensor) -> float:
    """``P(s_adv > s_benign) + P(s_adv = s_benign) / 2`` over all pairs: the area under the ROC curve.

    Scores are "larger = more suspicious" (``(n_0,)`` benign, ``(n_1,)`` adversarial); it equals the
    Mann-Whitney U of the adversarial scores divided by ``n_0 n_1``.
    """
    if not len(benign) or not len(adversarial):
        raise ValueError(f"roc_auc needs scores of both kinds, got {len(benign)} benign and {len(adversarial)} adversarial")
    a, b = adversarial.double()[:, None], benign.double()[None, :]
    return float(((a > b).double() + 0.5 * (a == b).double()).mean())


def roc_curve(benign: Tensor, adversarial: Tensor) -> tuple[Tensor, Tensor]:
    """``(fpr, tpr)`` of flagging ``score >= t`` for every distinct threshold ``t``, from (0, 0) to (1, 1)."""
    thresholds = torch.cat([benign, adversarial]).double().unique().flip(0)
    fpr = torch.stack([(benign.double() >= t).double().mean() for t in thresholds])
    tpr = torch.stack([(adversarial.double() >= t).double().mean() for t in thresholds])
    zero = fpr.new_zeros(1)
    return torch.cat([zero, fpr]), torch.cat([zero, tpr])


def threshold_at_fpr(benign: Tensor, fpr: float) -> float:
    """The smallest threshold ``t`` with ``mean(benign >= t) <= fpr`` (flag ``score >= t``); ``inf`` flags nothing."""
    if not 0 <= fpr <= 1:
        raise ValueError(f"the target false-positive rate must lie in [0, 1], got {fpr}")
    candidates = torch.cat([benign.double().unique(), benign.new_tensor([float("inf")], dtype=torch.float64)])
    allowed = [float(t) for t in candidates if (benign.double() >= t).double().mean() <= fpr]
    return min(allowed)


def tpr_at_fpr(benign: Tensor, adversarial: Tensor, fpr: float) -> float:
    """The share of ``adversarial`` flagged at the threshold that keeps the benign false-positive rate at most ``fpr``."""
    return float((adversarial.double() >= threshold_at_fpr(benign, fpr)).double().mean())
