"""``NaturalModule``: plain cross-entropy training."""

from ._robust_classifier import RobustClassifier


class NaturalModule(RobustClassifier):
    """The natural regime: minimise ``CE(net(x), y)``; the baseline every other regime is compared with."""

    regime = "natural"
