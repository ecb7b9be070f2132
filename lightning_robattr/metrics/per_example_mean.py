"""The base of every metric here: the mean of a per-example score, kept as DDP-reducible sum and count."""

import torch
from torch import Tensor
from torchmetrics import Metric


class PerExampleMean(Metric):
    """Mean over all examples seen of ``score(clean_maps, adv_maps, **extra) -> (B,)``.

    State is a running ``sum`` and ``count`` (``dist_reduce_fx="sum"``), so a 2-process DDP
    run reports the same value as a 1-process run. Examples whose score is NaN (e.g. a rank
    correlation of a constant map) are left out and counted in ``skipped``.
    Subclasses implement ``score``.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better: bool | None = None

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("skipped", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def score(self, clean_maps: Tensor, adv_maps: Tensor, **extra) -> Tensor:
        raise NotImplementedError

    def update(self, clean_maps: Tensor, adv_maps: Tensor, **extra) -> None:
        values = self.score(clean_maps.detach(), adv_maps.detach(), **extra).double()
        defined = ~values.isnan()
        self.total += values[defined].sum()
        self.count += defined.sum()
        self.skipped += (~defined).sum()

    def compute(self) -> Tensor:
        return (self.total / self.count).float()
