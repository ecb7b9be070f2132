"""The base of every metric here: the mean of a per-example score, kept as DDP-reducible sum and count."""

import torch
from torch import Tensor
from torchmetrics import Metric


class PerExampleMean(Metric):
    """Mean over all examples seen of ``score(clean_maps, adv_maps, **extra) -> (B,)``.

    State is a running ``sum`` and ``count`` (``dist_reduce_fx="sum"``), so a 2-process DDP
    run reports the same value as a 1-process run. Examples whose score is undefined are left
    out and counted in ``skipped``: a NaN score (e.g. a rank correlation of a constant map), and
    every example of maps with a single cell (a 1x1 CAM grid, where a top-k intersection is 1 and
    a dislocation 0 whatever the attack did). With no example left, ``compute`` is NaN.
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
        defined = ~values.isnan() & (clean_maps.shape[-2:].numel() > 1)
        self.total += values[defined].sum()
        self.count += defined.sum()
        self.skipped += (~defined).sum()

    def compute(self) -> Tensor:
        """The mean over the examples with a defined score; NaN when there is none."""
        return (self.total / self.count).float() if self.count > 0 else torch.tensor(float("nan"))
