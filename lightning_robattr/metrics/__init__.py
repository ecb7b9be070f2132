"""torchmetrics ``Metric`` classes for attribution robustness; pure per-example functions live in ``metrics.functional``."""

from .discrepancy import InterpretationDiscrepancy, NormalizedDiscrepancy
from .map_similarity import (
    CosineDistance,
    IoU,
    KendallTau,
    LpDistance,
    MassCenterDislocation,
    SpearmanCorrelation,
    TopKIntersection,
)
from .per_example_mean import PerExampleMean

__all__ = [
    "CosineDistance",
    "InterpretationDiscrepancy",
    "IoU",
    "KendallTau",
    "LpDistance",
    "MassCenterDislocation",
    "NormalizedDiscrepancy",
    "PerExampleMean",
    "SpearmanCorrelation",
    "TopKIntersection",
]
