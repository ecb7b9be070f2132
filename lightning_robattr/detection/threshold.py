"""``ThresholdDetector``: a detection score thresholded at a target false-positive rate on benign images."""

from abc import ABC, abstractmethod

from torch import Tensor

from .metrics import threshold_at_fpr


class ThresholdDetector(ABC):
    """Flags ``score(x) >= threshold``; ``fit`` picks, on benign images, the smallest threshold whose benign
    false-positive rate is at most ``target_fpr`` (with discrete scores the rate is usually below the target).

    Subclasses define :meth:`score` ``(B, C, H, W) -> (B,)``, larger meaning more suspicious.
    """

    def __init__(self, target_fpr: float) -> None:
        if not 0 <= target_fpr <= 1:
            raise ValueError(f"target_fpr must lie in [0, 1], got {target_fpr}; e.g. 0.05")
        self.target_fpr = target_fpr
        self.threshold: float | None = None

    @abstractmethod
    def score(self, x: Tensor) -> Tensor:
        """``(B,)`` suspicion of images ``x (B, C, H, W)``."""

    def fit(self, benign: Tensor) -> "ThresholdDetector":
        """Set the threshold from benign validation images ``(N, C, H, W)``; returns ``self``."""
        self.threshold = threshold_at_fpr(self.score(benign), self.target_fpr)
        return self

    def predict(self, x: Tensor) -> Tensor:
        """``(B,)`` bool: flagged as adversarial."""
        if self.threshold is None:
            raise RuntimeError(f"{type(self).__name__}.predict needs a threshold: call fit(benign_images) first")
        return self.score(x) >= self.threshold
