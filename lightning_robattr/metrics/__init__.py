"""torchmetrics ``Metric`` classes for attribution robustness; pure per-example functions live in ``metrics.functional``."""

from ._discrepancy import InterpretationDiscrepancy, NormalizedDiscrepancy
from ._map_similarity import (
    CosineDistance,
    IoU,
    KendallTau,
    LpDistance,
    MassCenterDislocation,
    SpearmanCorrelation,
    TopKIntersection,
)
from ._per_example_mean import PerExampleMean

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
