"""Scoring a detector: ROC curve, AUC with ties counted half, the true-positive rate at a false-positive rate.

Scores are ``(N,)`` tensors, one per image, larger meaning more suspicious; every function but
``defined_scores`` refuses NaN scores, other shapes and empty sets (``_validation.check_scores``).
A NaN score means the image could not be rated (the ensemble check on constant maps): leave it
out with ``defined_scores`` and report the share left out.
"""

import math

import torch
from torch import Tensor

from .._validation import check_scores


def roc_auc(benign: Tensor, adversarial: Tensor) -> float:
    """``P(s_adv > s_benign) + P(s_adv = s_benign) / 2`` over all pairs: the area under the ROC curve.

    Scores are "larger = more suspicious" (``(n_0,)`` benign, ``(n_1,)`` adversarial); it equals the
    Mann-Whitney U of the adversarial scores divided by ``n_0 n_1``.
    """
    a, b = check_scores(adversarial, "adversarial")[:, None], check_scores(benign, "benign")[None, :]
    return float(((a > b).double() + 0.5 * (a == b).double()).mean())


def roc_curve(benign: Tensor, adversarial: Tensor) -> tuple[Tensor, Tensor]:
    """``(fpr, tpr)`` of flagging ``score >= t`` for every distinct threshold ``t``, from (0, 0) to (1, 1)."""
    benign, adversarial = check_scores(benign, "benign"), check_scores(adversarial, "adversarial")
    thresholds = torch.cat([benign, adversarial]).unique().flip(0)
    fpr = torch.stack([(benign >= t).double().mean() for t in thresholds])
    tpr = torch.stack([(adversarial >= t).double().mean() for t in thresholds])
    zero = fpr.new_zeros(1)
    return torch.cat([zero, fpr]), torch.cat([zero, tpr])


def threshold_at_fpr(benign: Tensor, fpr: float) -> float:
    """The smallest threshold ``t`` with ``mean(benign >= t) <= fpr`` (flag ``score >= t``); ``inf`` flags nothing."""
    if not 0 <= fpr <= 1:
        raise ValueError(f"the target false-positive rate must lie in [0, 1], got {fpr}")
    benign = check_scores(benign, "benign")
    candidates = torch.cat([benign.unique(), benign.new_tensor([float("inf")])])
    allowed = [float(t) for t in candidates if (benign >= t).double().mean() <= fpr]
    return min(allowed)


def tpr_at_fpr(benign: Tensor, adversarial: Tensor, fpr: float) -> float:
    """The share of ``adversarial`` flagged at the threshold that keeps the benign false-positive rate at most ``fpr``."""
    adversarial = check_scores(adversarial, "adversarial")
    return float((adversarial >= threshold_at_fpr(benign, fpr)).double().mean())


def defined_scores(scores: Tensor) -> tuple[Tensor, float]:
    """The non-NaN scores of ``scores (N,)`` and the share of NaN ones, the images left out (NaN for ``N = 0``).

    Example:
        >>> defined_scores(torch.tensor([0.2, float("nan"), 0.5, 0.1]))
        (tensor([0.2000, 0.5000, 0.1000]), 0.25)
    """
    scores = torch.as_tensor(scores)
    undefined = scores.isnan()
    return scores[~undefined], float(undefined.double().mean()) if len(scores) else math.nan
