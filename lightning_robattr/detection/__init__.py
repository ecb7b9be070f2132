"""Detecting adversarial inputs by attribution-driven causal analysis (Jha et al., "Attribution-driven
Causal Analysis for Detection of Adversarial Examples"): the causal robustness of a prediction, a
detector thresholded at a false-positive rate, and the ROC metrics that score it."""

from .causal import causal_robustness, mask_top_pixels, masked_counts, masked_region, masking_levels, unchanged_fraction
from .detector import CausalDetector
from .figure import unchanged_curve_figure
from .metrics import roc_auc, roc_curve, threshold_at_fpr, tpr_at_fpr

__all__ = [
    "CausalDetector",
    "causal_robustness",
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
