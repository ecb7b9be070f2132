"""Repr: the penultimate feature map as an (class-independent) attribution."""

import torch
from torch import Tensor, nn

from .._validation import check_batch, check_cam_net
from ._score import attribution_method


@attribution_method
def representation(model: nn.Module, x: Tensor, target: Tensor | None = None, *, create_graph: bool = False) -> Tensor:
    """The net's last feature map ``model.features(x)`` of shape ``(B, K, h, w)`` (the Int paper's "Repr").

    ``target`` is accepted for a uniform signature and ignored (the map does not depend on a class).

    Example:
        >>> from lightning_robattr.models import Small
        >>> representation(Small().eval(), torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 100, 7, 7])
    """
    check_cam_net(model, method="representation")
    (x,) = check_batch(model, x)
    with torch.set_grad_enabled(create_graph):
        return model.features(x)
