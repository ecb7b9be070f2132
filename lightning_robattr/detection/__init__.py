"""Detecting adversarial inputs by attribution-driven causal analysis (Jha et al., "Attribution-driven
Causal Analysis for Detection of Adversarial Examples") and by the agreement of several interpreters
(the ensemble check of "Interpretable Deep Learning under Fire"): detection scores, detectors
thresholded at a false-positive rate, and the ROC metrics that score them."""

from .causal import (
    CausalConfig,
    causal_robustness,
    mask_top_pixels,
    masked_counts,
    masked_region,
    masking_levels,
    unchanged_fraction,
)
from .detector import CausalDetector
from .ensemble import EnsembleCheck, EnsembleDetector, ensemble_agreement, ensemble_check
from .figure import unchanged_curve_figure
from .metrics import roc_auc, roc_curve, threshold_at_fpr, tpr_at_fpr
from .threshold import ThresholdDetector

__all__ = [
    "CausalConfig",
    "CausalDetector",
    "EnsembleCheck",
    "EnsembleDetector",
    "ThresholdDetector",
    "causal_robustness",
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
