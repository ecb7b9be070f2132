"""The base of every metric here: the mean of a per-example score, kept as DDP-reducible sum and count."""

import torch
from torch import Tensor
from torchmetrics import Metric

from .functional import constant_maps


class PerExampleMean(Metric):
    """Mean over all examples seen of ``score(clean_maps, adv_maps, **extra) -> (B,)``.

    State is a running ``sum`` and ``count`` (``dist_reduce_fx="sum"``), so a 2-process DDP
    run reports the same value as a 1-process run. Examples whose score is undefined are left
    out and counted in ``skipped``: a NaN score (e.g. a rank correlation of a constant map), and
    every example of maps with a single cell (a 1x1 CAM grid, where a top-k intersection is 1 and
    a dislocation 0 whatever the attack did). With no example left, ``compute`` is NaN.

    Degenerate maps: ``degenerate`` counts the examples whose clean or perturbed map is constant
    (all cells equal after channel reduction by the metric's ``channel_rule``, default ``"abs_sum"``;
    an all-zero map included; see ``functional.constant_maps``), whatever the score. The top-k
    intersection, IoU and rank correlations give NaN there (so those examples are also in
    ``skipped``); ties would otherwise read as a perfectly robust map. ``degenerate_share()`` is
    ``degenerate / (count + skipped)``, the share of all examples seen.
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
        self.add_state("degenerate", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def score(self, clean_maps: Tensor, adv_maps: Tensor, **extra) -> Tensor:
        raise NotImplementedError

    def update(self, clean_maps: Tensor, adv_maps: Tensor, **extra) -> None:
        values = self.score(clean_maps.detach(), adv_maps.detach(), **extra).double()
        defined = ~values.isnan() & (clean_maps.shape[-2:].numel() > 1)
        self.total += values[defined].sum()
        self.count += defined.sum()
        self.skipped += (~defined).sum()
        rule = getattr(self, "channel_rule", "abs_sum")
        clean, adv = (m.detach() if m.dim() <= 4 else m.detach().flatten(1) for m in (clean_maps, adv_maps))
        self.degenerate += (constant_maps(clean, channel_rule=rule) | constant_maps(adv, channel_rule=rule)).sum()

    def compute(self) -> Tensor:
        """The mean over the examples with a defined score; NaN when there is none."""
        return (self.total / self.count).float() if self.count > 0 else torch.tensor(float("nan"))

    def degenerate_share(self) -> Tensor:
        """The share of the examples seen whose clean or perturbed map is constant: ``degenerate / (count + skipped)``;
        NaN when nothing was seen."""
        seen = self.count + self.skipped
        return self.degenerate.double().div(seen).float() if seen > 0 else torch.tensor(float("nan"))
