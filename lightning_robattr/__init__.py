"""lightning_robattr: train and evaluate classifiers whose attributions resist adversarial manipulation."""

from .regimes import (
    IGNormModule,
    IntModule,
    MadryModule,
    NaturalModule,
    RobustClassifier,
    SSRModule,
    TRADESModule,
)

__version__ = "0.1.0"

__all__ = [
    "IGNormModule",
    "IntModule",
    "MadryModule",
    "NaturalModule",
    "RobustClassifier",
    "SSRModule",
    "TRADESModule",
    "__version__",
]
