"""GRAD: the loss-gradient saliency map as the ADV2 paper's authors compute it, pooled to a coarse grid."""

import torch.nn.functional as F
from torch import Tensor, nn

from ._saliency import saliency
from ._score import attribution_method


@attribution_method
def grad(model: nn.Module, x: Tensor, target: Tensor | None = None, *, pool: int = 4, create_graph: bool = False) -> Tensor:
    """``avg_pool(max_c |d CE(f(x), target) / dx|, pool)``: ``(B, H / pool, W / pool)``, non-negative.

    The gradient of the cross-entropy at ``target`` (not of the logit), its absolute value maxed
    over channels and average-pooled in ``pool x pool`` cells ("Interpretable Deep Learning under
    Fire": pool 4 on 224-pixel ImageNet, 56 x 56; their CIFAR-10 code pools by 2). Pool 4 puts a
    28-pixel MNIST map on the 7 x 7 grid of ``models.Small``'s CAM.

    Args:
        model: classifier on pixel-space images; x: ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` explains the predicted class.
        pool: side of the pooling cells in pixels (1: no pooling).
        create_graph: keep the graph (for attacks; differentiate a ReLU net through a surrogate,
            e.g. ``models.relu_derivative_surrogate``, as its input Hessian vanishes).

    Cost: 1 forward + 1 backward.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> grad(Small().eval(), torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 7, 7])
    """
    gradient = saliency(model, x, target, score="ce", abs=True, create_graph=create_graph)
    return F.avg_pool2d(gradient.amax(dim=1, keepdim=True), pool)[:, 0]
