"""``CausalDetector``: flag inputs whose prediction falls to little masking of their most attributed pixels."""

from typing import Any

from torch import Tensor, nn

from ..attacks._attack_config import resolve_config
from ._causal import CausalConfig, causal_robustness
from ._threshold import ThresholdDetector


class CausalDetector(ThresholdDetector):
    """Thresholds the causal robustness ``rho`` (``causal_robustness``) at a target false-positive rate.

    ``score(x) = -rho``: larger is more suspicious (the prediction changes under less masking);
    ``fit`` and ``predict`` are :class:`ThresholdDetector`'s.

    Args:
        model: the classifier whose inputs are screened.
        target_fpr: the benign false-positive rate to allow (the paper reports 0.05, 0.1, 0.2).
        config: how ``rho`` is measured (:class:`CausalConfig`: ``granularity``, ``ig_steps``, ``baseline``,
            ``fraction_of``, ``batch_size``).
        **options: fields of :class:`CausalConfig` replaced (``ig_steps=4``).

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> detector = CausalDetector(Small(), target_fpr=0.1, ig_steps=4).fit(torch.rand(8, 1, 28, 28))
        >>> detector.predict(torch.rand(3, 1, 28, 28)).shape
        torch.Size([3])
    """

    def __init__(
        self, model: nn.Module, *, target_fpr: float = 0.05, config: CausalConfig | None = None, **options: Any
    ) -> None:
        super().__init__(target_fpr)
        self.model = model
        self.config = resolve_config(CausalConfig, config, options)

    def score(self, x: Tensor) -> Tensor:
        """``(B,)`` ``-rho`` of images ``x (B, C, H, W)``: larger means more suspicious."""
        rho, _ = causal_robustness(self.model, x, config=self.config)
        return -rho

    def top_score_meaning(self, top: float) -> str:
        """``rho = -top``: the masked fraction at which these benign predictions change."""
        return f" (rho = {-top:g}: their prediction changes once {-top:.0%} of the pixels are masked)"

    def finer_score_advice(self) -> str:
        """A finer ``granularity`` spreads the images that flip at the same level over several levels."""
        granularity = self.config.granularity
        return f", or mask in finer steps (granularity={granularity:g} now, e.g. {granularity / 5:g}) to separate these images"
