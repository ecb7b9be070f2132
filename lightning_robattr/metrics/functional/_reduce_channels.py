"""The rule that turns a multi-channel attribution into one map per image."""

from torch import Tensor

from ..._validation import check_same_shape

CHANNEL_RULES = ("abs_sum", "signed_sum", "l2")


def reduce_channels(maps: Tensor, rule: str = "abs_sum") -> Tensor:
    """Reduce ``(B, C, H, W)`` maps over channels to ``(B, H, W)``.

    Rules: ``"abs_sum"`` ``sum_c |m_c|`` (default; Ghorbani et al., the SSR paper),
    ``"signed_sum"`` ``sum_c m_c``, ``"l2"`` ``sqrt(sum_c m_c^2)``. A 3-D input ``(B, H, W)``
    (e.g. a CAM) already holds one map per image and is returned unchanged.

    Example:
        >>> import torch
        >>> reduce_channels(torch.tensor([[[[1.0]], [[-2.0]]]])).tolist()
        [[[3.0]]]
    """
    if rule not in CHANNEL_RULES:
        raise ValueError(f"channel rule must be one of {CHANNEL_RULES}, got {rule!r}")
    if maps.dim() == 3:
        return maps
    if maps.dim() != 4:
        raise ValueError(f"maps must be (B, C, H, W) or (B, H, W), got shape {tuple(maps.shape)}")
    if rule == "abs_sum":
        return maps.abs().sum(dim=1)
    if rule == "signed_sum":
        return maps.sum(dim=1)
    return maps.pow(2).sum(dim=1).sqrt()


def paired_maps(a: Tensor, b: Tensor, channel_rule: str | None, *, flatten: bool = True) -> tuple[Tensor, Tensor]:
    """Two batches of maps reduced by ``channel_rule`` (``None``: as given), refused unless they then have one shape,
    flattened to ``(B, P)`` (``(B, H, W)`` when not ``flatten``)."""
    ra, rb = (a, b) if channel_rule is None else (reduce_channels(a, channel_rule), reduce_channels(b, channel_rule))
    if ra.shape != rb.shape:
        check_same_shape(a, b)  # raises, naming the shapes as given
    return (ra.flatten(1), rb.flatten(1)) if flatten else (ra, rb)
