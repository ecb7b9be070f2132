"""``CausalDetector``: flag inputs whose prediction falls to little masking of their most attributed pixels."""

from typing import Literal

import torch
from torch import Tensor, nn

from .causal import causal_robustness
from .metrics import threshold_at_fpr


class CausalDetector:
    """Thresholds the causal robustness ``rho`` (``causal_robustness``) at a target false-positive rate.

    ``score(x) = -rho``: larger is more suspicious (the prediction changes under less masking).
    ``fit`` picks, on benign images, the smallest threshold whose benign false-positive rate is at
    most ``target_fpr`` (``rho`` is discrete, so the rate is usually below the target);
    ``predict`` flags ``score >= threshold``.

    Args:
        model: the classifier whose inputs are screened.
        target_fpr: the benign false-positive rate to allow (the paper reports 0.05, 0.1, 0.2).
        granularity, ig_steps, baseline, fraction_of, batch_size: see ``causal_robustness``.

    Example:
        >>> from lightning_robattr.models import Small
        >>> detector = CausalDetector(Small(), target_fpr=0.1, ig_steps=4).fit(torch.rand(8, 1, 28, 28))
        >>> detector.predict(torch.rand(3, 1, 28, 28)).shape
        torch.Size([3])
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        target_fpr: float = 0.05,
        granularity: float = 0.05,
        ig_steps: int = 50,
        baseline: float | Tensor = 0.0,
        fraction_of: Literal["positive", "all"] = "positive",
        batch_size: int = 512,
    ) -> None:
        if not 0 <= target_fpr <= 1:
            raise ValueError(f"target_fpr must lie in [0, 1], got {target_fpr}; e.g. 0.05")
        self.model, self.target_fpr = model, target_fpr
        self.options = dict(granularity=granularity, ig_steps=ig_steps, baseline=baseline, fraction_of=fraction_of, batch_size=batch_size)
        self.threshold: float | None = None

    def score(self, x: Tensor) -> Tensor:
        """``(B,)`` ``-rho`` of images ``x (B, C, H, W)``: larger means more suspicious."""
        rho, _ = causal_robustness(self.model, x, **self.options)
        return -rho

    def fit(self, benign: Tensor) -> "CausalDetector":
        """Set the threshold from benign validation images ``(N, C, H, W)``; returns ``self``."""
        self.threshold = threshold_at_fpr(self.score(benign), self.target_fpr)
        return self

    def predict(self, x: Tensor) -> Tensor:
        """``(B,)`` bool: flagged as adversarial."""
        if self.threshold is None:
            raise RuntimeError("CausalDetector.predict needs a threshold: call fit(benign_images) first")
        return self.score(x) >= self.threshold
