"""lightning_robattr: train and evaluate classifiers whose attributions resist adversarial manipulation."""

from .regimes import NaturalModule, RobustClassifier

__version__ = "0.1.0"

__all__ = ["NaturalModule", "RobustClassifier", "__version__"]
