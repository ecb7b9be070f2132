"""GradCAM++ as the Int paper's code computes it: the CAM with negative class weights zeroed."""

import torch
from torch import Tensor, nn

from .._validation import check_batch, check_cam_net
from ._cam_base import head_logits, upsample_to
from ._score import attribution_method, resolve_target


@attribution_method
def grad_cam_pp_int_repo(
    model: nn.Module, x: Tensor, target: Tensor | None = None, *, upsample: bool = False, create_graph: bool = False
) -> Tensor:
    """``sum_k ReLU(W_ck) A_k``: the Int code's GradCAM++ of class ``target``, needed to reproduce that paper's tables.

    ``A = model.features(x)`` and ``W`` the linear classifier's weights: no alpha and no final ReLU
    (:func:`grad_cam_pp` is Chattopadhay et al.'s map). Needs a CAM net.

    Args:
        model: CAM net on pixel-space input (run in eval mode, its modes restored afterwards).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` attributes the predicted class.
        upsample: bilinearly upsample to the input size.
        create_graph: keep the graph (map differentiable w.r.t. ``x`` and the parameters).

    Returns:
        ``(B, h, w)`` (or ``(B, H, W)`` upsampled); detached unless ``create_graph``.

    Cost: one forward pass, no backward.

    Example:
        >>> from lightning_robattr.models import Small
        >>> grad_cam_pp_int_repo(Small().eval(), torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 7, 7])
    """
    x, target = check_batch(model, x, {"target": target})
    check_cam_net(model, method="grad_cam_pp_int_repo")
    with torch.set_grad_enabled(create_graph):
        features = model.features(x)
        weights = torch.relu(model.classifier.weight[resolve_target(head_logits(model, features), target)])
        maps = torch.einsum("bk,bkhw->bhw", weights, features)
    return upsample_to(maps, x.shape[-2:]) if upsample else maps
