"""Detecting adversarial inputs by attribution-driven causal analysis (Jha et al., "Attribution-driven
Causal Analysis for Detection of Adversarial Examples") and by the agreement of several interpreters
(the ensemble check of "Interpretable Deep Learning under Fire"): detection scores, detectors
thresholded at a false-positive rate, and the ROC metrics that score them."""

from ._adaptive import AdaptiveConfig, AdaptiveRecord, adaptive_attack
from ._causal import (
    CausalConfig,
    causal_robustness,
    mask_top_pixels,
    masked_counts,
    masked_region,
    masking_levels,
    unchanged_fraction,
)
from ._detector import CausalDetector
from ._ensemble import EnsembleCheck, EnsembleDetector, ensemble_agreement, ensemble_check
from ._figure import unchanged_curve_figure
from ._metrics import defined_scores, roc_auc, roc_curve, threshold_at_fpr, tpr_at_fpr
from ._threshold import ThresholdDetector

__all__ = [
    "AdaptiveConfig",
    "AdaptiveRecord",
    "CausalConfig",
    "CausalDetector",
    "EnsembleCheck",
    "EnsembleDetector",
    "ThresholdDetector",
    "adaptive_attack",
    "causal_robustness",
    "defined_scores",
    "ensemble_agreement",
    "ensemble_check",
    "mask_top_pixels",
    "masked_counts",
    "masked_region",
    "masking_levels",
    "roc_auc",
    "roc_curve",
    "threshold_at_fpr",
    "tpr_at_fpr",
    "unchanged_curve_figure",
    "unchanged_fraction",
]
