"""The maps that attribution attacks compare: one non-negative, normalised map per image."""

from contextlib import AbstractContextManager, nullcontext

from torch import Tensor, nn

from ...metrics.functional import reduce_channels
from ...models import softplus_surrogate

NORMALIZATIONS = ("sum1", "sum_hw")
# Maps read off the forward pass (CAM, Repr) or off the gradient at a GAP head (GradCAM, GradCAM++ at
# their default layer, where that gradient is the constant W/(h w)): first-order autograd gives their
# input gradient, so they need no smooth stand-in for ReLU.
FIRST_ORDER_METHODS = frozenset({"cam", "gradcam", "gradcampp", "repr"})


def normalized_map(raw: Tensor, normalize: str) -> Tensor:
    """``(B, h, w)``: ``|raw|`` summed over channels, divided by its total (``"sum1"``), times ``h*w`` for ``"sum_hw"``.

    ``raw`` is an attribution ``(B, C, H, W)``, a representation ``(B, K, h, w)`` or a CAM-family
    map ``(B, h, w)``. ``"sum1"`` is Dombrowski et al.'s normalisation and the SSR paper's
    ``n(z) = |z| / sum |z|``; ``"sum_hw"`` is the Ghorbani et al. / SSR code's scale.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    maps = reduce_channels(raw, "abs_sum") if raw.dim() == 4 else raw.abs()
    total = maps.flatten(1).sum(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    scale = maps.shape[-2] * maps.shape[-1] if normalize == "sum_hw" else 1.0
    return maps * (scale / total)


def surrogate(model: nn.Module, method: str, beta: float | None) -> AbstractContextManager:
    """The context in which an attack differentiates ``method``'s map: the softplus surrogate or nothing.

    Gradient maps of ReLU nets have zero input Hessian almost everywhere, so their attack
    direction is taken on ``softplus_surrogate(model, beta)``; first-order maps and ``beta=None``
    use the model as it is.
    """
    if beta is None or method in FIRST_ORDER_METHODS:
        return nullcontext(model)
    return softplus_surrogate(model, beta)
