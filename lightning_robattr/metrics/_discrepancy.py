"""Metric classes for the Int paper's interpretation discrepancy and its normalised score (NDS)."""

from torch import Tensor

from ._per_example_mean import PerExampleMean
from .functional import interpretation_discrepancy, normalized_discrepancy


class NormalizedDiscrepancy(PerExampleMean):
    """Mean NDS; see ``functional.normalized_discrepancy`` (larger: the measure is harder for ISA to evade)."""

    def __init__(self, p: float = 1, cell_mean: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.p, self.cell_mean = p, cell_mean

    def score(self, clean_maps: Tensor, adv_maps: Tensor) -> Tensor:
        return normalized_discrepancy(clean_maps, adv_maps, p=self.p, cell_mean=self.cell_mean)


class InterpretationDiscrepancy(PerExampleMean):
    """Mean interpretation discrepancy; see ``functional.interpretation_discrepancy``.

    ``update(clean_maps, adv_maps, target=..., adv_target=..., adv_logits=...)`` takes the labels the
    chosen class set needs.

    Example:
        >>> import torch
        >>> metric = InterpretationDiscrepancy(classes="one", p=1)
        >>> metric.update(torch.zeros(2, 10, 7, 7), torch.ones(2, 10, 7, 7), target=torch.tensor([3, 4]))
        >>> metric.compute().item()
        49.0
    """

    higher_is_better = False

    def __init__(self, classes: str = "one", p: float = 1, squared: bool = False, weighting: str = "int_repo", **kwargs) -> None:
        super().__init__(**kwargs)
        self.classes, self.p, self.squared, self.weighting = classes, p, squared, weighting

    def score(
        self,
        clean_maps: Tensor,
        adv_maps: Tensor,
        target: Tensor | None = None,
        adv_target: Tensor | None = None,
        adv_logits: Tensor | None = None,
    ) -> Tensor:
        return interpretation_discrepancy(
            clean_maps,
            adv_maps,
            classes=self.classes,
            target=target,
            adv_target=adv_target,
            adv_logits=None if adv_logits is None else adv_logits.detach(),
            p=self.p,
            squared=self.squared,
            weighting=self.weighting,
        )
