"""Metric classes comparing clean and perturbed attribution maps (the modular twins of ``metrics.functional``)."""

from collections.abc import Sequence

from torch import Tensor

from ._per_example_mean import PerExampleMean
from .functional import (
    IOU_GRID,
    cosine_distance,
    iou,
    kendall_tau,
    lp_distance,
    mass_center_dislocation,
    spearman,
    topk_intersection,
)


class TopKIntersection(PerExampleMean):
    """Mean top-k intersection; see ``functional.topk_intersection`` (``mode`` ``"set"`` or ``"mass"``).

    Example:
        >>> import torch
        >>> metric = TopKIntersection(k=2)
        >>> metric.update(torch.tensor([[[3.0, 2.0], [1.0, 0.0]]]), torch.tensor([[[0.0, 2.0], [3.0, 1.0]]]))
        >>> metric.compute().item()
        0.5
    """

    higher_is_better = True

    def __init__(self, k: int, mode: str = "set", channel_rule: str | None = "abs_sum", **kwargs) -> None:
        super().__init__(**kwargs)
        self.k, self.mode, self.channel_rule = k, mode, channel_rule

    def score(self, clean_maps: Tensor, adv_maps: Tensor) -> Tensor:
        return topk_intersection(clean_maps, adv_maps, k=self.k, mode=self.mode, channel_rule=self.channel_rule)


class SpearmanCorrelation(PerExampleMean):
    """Mean Spearman rank correlation; see ``functional.spearman``."""

    higher_is_better = True

    def __init__(self, channel_rule: str | None = "abs_sum", **kwargs) -> None:
        super().__init__(**kwargs)
        self.channel_rule = channel_rule

    def score(self, clean_maps: Tensor, adv_maps: Tensor) -> Tensor:
        return spearman(clean_maps, adv_maps, channel_rule=self.channel_rule)


class KendallTau(PerExampleMean):
    """Mean Kendall tau-b; see ``functional.kendall_tau``."""

    higher_is_better = True

    def __init__(self, channel_rule: str | None = "abs_sum", **kwargs) -> None:
        super().__init__(**kwargs)
        self.channel_rule = channel_rule

    def score(self, clean_maps: Tensor, adv_maps: Tensor) -> Tensor:
        return kendall_tau(clean_maps, adv_maps, channel_rule=self.channel_rule)


class MassCenterDislocation(PerExampleMean):
    """Mean mass-centre dislocation in pixels; see ``functional.mass_center_dislocation``."""

    higher_is_better = False

    def __init__(self, int_cast: bool = False, channel_rule: str = "abs_sum", **kwargs) -> None:
        super().__init__(**kwargs)
        self.int_cast, self.channel_rule = int_cast, channel_rule

    def score(self, clean_maps: Tensor, adv_maps: Tensor) -> Tensor:
        return mass_center_dislocation(clean_maps, adv_maps, int_cast=self.int_cast, channel_rule=self.channel_rule)


class CosineDistance(PerExampleMean):
    """Mean cosine distance; see ``functional.cosine_distance``."""

    higher_is_better = False

    def __init__(self, channel_rule: str | None = "abs_sum", **kwargs) -> None:
        super().__init__(**kwargs)
        self.channel_rule = channel_rule

    def score(self, clean_maps: Tensor, adv_maps: Tensor) -> Tensor:
        return cosine_distance(clean_maps, adv_maps, channel_rule=self.channel_rule)


class LpDistance(PerExampleMean):
    """Mean ``||a - b||_p``; see ``functional.lp_distance``."""

    higher_is_better = False

    def __init__(self, p: float, channel_rule: str | None = "abs_sum", **kwargs) -> None:
        super().__init__(**kwargs)
        self.p, self.channel_rule = p, channel_rule

    def score(self, clean_maps: Tensor, adv_maps: Tensor) -> Tensor:
        return lp_distance(clean_maps, adv_maps, p=self.p, channel_rule=self.channel_rule)


class IoU(PerExampleMean):
    """Mean IoU of the top cells, averaged over a grid of sizes; see ``functional.iou`` (the ADV2 paper's measure)."""

    higher_is_better = True

    def __init__(self, k: Sequence[float | int] | float | int = IOU_GRID, channel_rule: str | None = "abs_sum", **kwargs) -> None:
        super().__init__(**kwargs)
        self.k, self.channel_rule = k, channel_rule

    def score(self, clean_maps: Tensor, adv_maps: Tensor) -> Tensor:
        return iou(clean_maps, adv_maps, k=self.k, channel_rule=self.channel_rule)
