"""RTS: the real-time saliency interpreter, a trained masking network read in one forward pass."""

from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn

from .._validation import check_batch
from ..models._rts_net import RTSNet
from ._score import attribution_method, predicted_or_given


@lru_cache(maxsize=4)
def _load(path: str) -> RTSNet:
    return RTSNet.from_checkpoint(path)


def saliency_network(saliency_net: nn.Module | str | Path) -> nn.Module:
    """The masking network ``saliency_net`` names: the network itself, or the one in an ``RTSModule`` checkpoint (loaded once, cached)."""
    return _load(str(saliency_net)) if isinstance(saliency_net, (str, Path)) else saliency_net


@attribution_method
def rts(
    model: nn.Module, x: Tensor, target: Tensor | None = None, *, saliency_net: nn.Module | str | Path, create_graph: bool = False
) -> Tensor:
    """The mask ``saliency_net(x, target)`` ``(B, h, w)`` in [0, 1] (1: the region the class needs), on the network's grid.

    Args:
        model: the classifier the masking network was trained on (used only for ``target=None``).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` explains the predicted class.
        saliency_net: a trained ``models.RTSNet`` (``regimes.RTSModule(...).saliency_net``), or the
            path of an ``RTSModule`` checkpoint (loaded once and cached), which is how a config names it.
        create_graph: keep the graph, so the mask is differentiable w.r.t. ``x`` (first-order:
            the network is differentiated as it is).

    The network runs in its own dtype; the mask comes back in ``x``'s.

    Cost: one forward pass of the masking network.

    Example:
        >>> from lightning_robattr.models import RTSNet, Small
        >>> rts(Small().eval(), torch.rand(2, 1, 28, 28), saliency_net=RTSNet(1, 10).eval()).shape
        torch.Size([2, 14, 14])
    """
    x, target = check_batch(model, x, {"target": target})
    net = saliency_network(saliency_net).to(x.device)
    target = predicted_or_given(model, x, target)
    dtype = next(net.parameters()).dtype
    with torch.set_grad_enabled(create_graph):
        maps = net((x if create_graph else x.detach()).to(dtype), target).to(x.dtype)
    return maps if create_graph else maps.detach()
