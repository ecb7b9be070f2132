"""Class activation maps (CAM) of a GAP + linear classifier."""

import torch
from torch import Tensor, nn

from .._validation import check_batch, check_cam_net, check_choice
from ._cam_base import head_logits, upsample_to
from ._score import attribution_method, resolve_target

SCALES = ("mean_to_logit", "sum_to_logit")


def class_activation_maps(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """Logits ``(B, n_c)`` and the CAMs of every class ``(B, n_c, h, w)`` from one forward pass.

    ``cams[b, c] = sum_k W[c, k] * A[b, k]`` with ``A = model.features(x)`` and ``W`` the
    classifier weight (the Int code's convention, no ``1/(h w)``): the mean of ``cams[b, c]``
    over its cells equals ``logits[b, c] - bias[c]``. The result keeps the autograd graph
    (CAM needs only first-order autograd, which is why Int trains cheaply). Being Int's training
    forward pass, it runs the net in the mode it is in; :func:`cam` runs it in eval mode.

    Example:
        >>> from lightning_robattr.models import Small
        >>> logits, cams = class_activation_maps(Small().eval(), torch.rand(2, 1, 28, 28))
        >>> cams.shape
        torch.Size([2, 10, 7, 7])
    """
    check_cam_net(model, method="class_activation_maps")
    (x,) = check_batch(model, x)
    return _every_class(model, x)


def _every_class(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`class_activation_maps` of a checked batch."""
    features = model.features(x)
    return head_logits(model, features), torch.einsum("ck,bkhw->bchw", model.classifier.weight, features)


@attribution_method
def cam(
    model: nn.Module,
    x: Tensor,
    target: Tensor | None = None,
    *,
    scale: str = "mean_to_logit",
    upsample: bool = False,
    create_graph: bool = False,
) -> Tensor:
    """The CAM of class ``target`` (default: predicted), unrectified and unnormalised.

    Args:
        model: a ``CAMNet`` (``features`` -> GAP -> linear ``classifier``).
        x: images ``(B, C, H, W)`` in [0, 1].
        target: class indices ``(B,)``; ``None`` attributes the predicted class.
        scale: ``"mean_to_logit"`` (Int code: cells average to ``f_c - b_c``) or
            ``"sum_to_logit"`` (Int paper eq. 1: divided by ``h w``, cells sum to ``f_c - b_c``).
        upsample: bilinearly upsample to the input size ``(H, W)``.
        create_graph: keep the graph (the map is then differentiable w.r.t. ``x`` and the parameters).

    Returns:
        ``(B, h, w)``, or ``(B, H, W)`` when upsampled; detached unless ``create_graph``.

    Cost: one forward pass, no backward.

    Example:
        >>> from lightning_robattr.models import Small
        >>> cam(Small().eval(), torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 7, 7])
    """
    check_choice(scale, SCALES, name="scale")
    check_cam_net(model, method="cam")
    x, target = check_batch(model, x, {"target": target})
    with torch.set_grad_enabled(create_graph):
        logits, cams = _every_class(model, x)
        target = resolve_target(logits, target)
        maps = cams[torch.arange(x.shape[0], device=cams.device), target]
        if scale == "sum_to_logit":
            maps = maps / (maps.shape[-2] * maps.shape[-1])
        return upsample_to(maps, x.shape[-2:]) if upsample else maps
