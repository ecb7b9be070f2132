"""``ThresholdDetector``: a detection score thresholded at a target false-positive rate on benign images."""

import math
import warnings
from abc import ABC, abstractmethod

from torch import Tensor

from ._metrics import defined_scores, threshold_at_fpr


class ThresholdDetector(ABC):
    """Flags ``score(x) >= threshold``; ``fit`` picks, on benign images, the smallest threshold whose benign
    false-positive rate is at most ``target_fpr`` (with discrete scores the rate is usually below the target).

    Subclasses define :meth:`score` ``(B, C, H, W) -> (B,)``, larger meaning more suspicious, NaN for
    an image the score cannot rate: such images are left out of ``fit`` (their share is
    ``undefined_rate``) and never flagged by ``predict``.
    """

    def __init__(self, target_fpr: float) -> None:
        if not 0 <= target_fpr <= 1:
            raise ValueError(f"target_fpr must lie in [0, 1], got {target_fpr}; e.g. 0.05")
        self.target_fpr = target_fpr
        self.threshold: float | None = None
        self.undefined_rate: float | None = None

    @abstractmethod
    def score(self, x: Tensor) -> Tensor:
        """``(B,)`` suspicion of images ``x (B, C, H, W)``."""

    def fit(self, benign: Tensor) -> "ThresholdDetector":
        """Set the threshold from benign validation images ``(N, C, H, W)``; returns ``self``.

        Images scored NaN are left out; ``undefined_rate`` is their share. Raises ``ValueError`` when
        none is left. Warns when no threshold keeps the benign rate at most ``target_fpr`` (more benign
        images than that share the most suspicious score): the threshold is then ``inf`` and nothing is flagged.
        """
        scores, self.undefined_rate = defined_scores(self.score(benign))
        if not len(scores):
            raise ValueError(
                f"{type(self).__name__}.fit: the score is undefined (NaN) on all {len(benign)} benign images, so no "
                "threshold can be fitted; fit on other images (for the ensemble check: images whose maps are not constant)"
            )
        self.threshold = threshold_at_fpr(scores, self.target_fpr)
        if self.threshold == math.inf:
            top = scores.max()
            share = float((scores == top).double().mean())
            warnings.warn(
                f"{type(self).__name__}.fit: {share:.1%} of the benign images share the most suspicious score {float(top):g}"
                f"{self.top_score_meaning(float(top))}, more than target_fpr={self.target_fpr:g}, so no threshold keeps the "
                f"benign false-positive rate at most target_fpr: the detector will flag nothing (threshold = inf); "
                f"raise target_fpr to at least {share:.3g}{self.finer_score_advice()}",
                UserWarning,
                stacklevel=2,
            )
        return self

    def top_score_meaning(self, top: float) -> str:
        """What the most suspicious score ``top`` means, said in :meth:`fit`'s warning (e.g. ``" (rho = 0.05 ...)"``)."""
        return ""

    def finer_score_advice(self) -> str:
        """How a finer score would separate the benign images, ending :meth:`fit`'s warning (e.g. ``", or ..."``)."""
        return ""

    def predict(self, x: Tensor) -> Tensor:
        """``(B,)`` bool: flagged as adversarial (``score >= threshold``; never where the score is NaN)."""
        if self.threshold is None:
            raise RuntimeError(f"{type(self).__name__}.predict needs a threshold: call fit(benign_images) first")
        return self.score(x) >= self.threshold
