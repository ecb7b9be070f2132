"""Transfer of an attribution attack to other attribution methods ("Smoothed Geometry for Robust Attribution", Exp. III)."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..._validation import check_batch
from ...attributions import ATTRIBUTION_METHODS
from ...metrics.functional import cosine_distance, mass_center_dislocation, spearman, topk_intersection
from ...models import evaluation_mode
from .maps import evaluated_maps
from .objectives import resolve_k


def transfer_evaluation(
    model: nn.Module,
    x: Tensor,
    x_adv: Tensor,
    *,
    methods: Sequence[str] | None = None,
    k: int | float = 0.1,
    normalize: str = "sum1",
    noise: str = "shared",
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Tensor]]:
    """Compare the maps of ``x`` and ``x_adv`` under every method, without re-optimising ``x_adv``.

    A perturbation found against one method (say ``attribution_attack(method="saliency")``) is
    evaluated on the others. Both maps attribute the class the model predicts at ``x`` and are
    post-processed like the attacks' maps (``|.|`` summed over channels, normalised).

    Args:
        model: classifier on pixel-space images (eval mode and fp32 inside, restored afterwards).
        x, x_adv: clean and perturbed images ``(B, C, H, W)`` in [0, 1].
        methods: attribution names; default every method of ``attributions.ATTRIBUTION_METHODS`` that needs no
            options (all but ``rts``).
        k: top-k size for the intersection, an int or a fraction in (0, 1) of each map's cells.
        normalize: ``"sum1"`` or ``"sum_hw"`` (it changes no metric below, only the maps' scale).
        noise: ``"shared"`` or ``"redrawn"`` noise of SmoothGrad/UniGrad maps, as in
            ``AttributionAttackEval(map_noise=...)``: both compute their maps with ``maps.evaluated_maps``.
        method_options: per-method options, e.g. ``{"ig": {"steps": 100}, "smoothgrad": {"generator": g}}``.

    Returns:
        ``{method: {metric: (B,)}}`` with metrics ``topk_intersection`` (set mode), ``spearman``,
        ``mass_center_dislocation`` (pixels of the map grid) and ``cosine_distance``; higher
        similarity (first two) and lower distance (last two) mean the attack transferred less.
        An image with a constant map gets NaN in ``topk_intersection`` and ``spearman`` (an all-zero
        map also in the two distances): average with ``torch.nanmean``.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> from lightning_robattr.attacks import attribution_attack
        >>> x_adv, record = attribution_attack(net, x, method="saliency", objective="topk", eps=0.1, steps=2)
        >>> transfer_evaluation(net, x, x_adv, methods=["ig", "smoothgrad"])["ig"]["spearman"].shape
        torch.Size([4])
    """
    (x,) = check_batch(model, x)
    (x_adv,) = check_batch(model, x_adv, name="x_adv")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have the shape of x {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    methods = [name for name, method in ATTRIBUTION_METHODS.items() if not method.required] if methods is None else list(methods)
    options = dict(method_options or {})
    unknown = set(options) - set(methods)
    if unknown:
        raise ValueError(f"method_options names methods not evaluated: {sorted(unknown)}")
    results: dict[str, dict[str, Tensor]] = {}
    with evaluation_mode(model):
        with torch.no_grad():
            label = model(x).argmax(dim=1)
        for method in methods:
            clean, adv = (
                evaluated_maps(model, images.detach(), label, method, options.get(method), noise=noise, normalize=normalize)
                for images in (x, x_adv)
            )
            results[method] = {
                "topk_intersection": topk_intersection(clean, adv, k=resolve_k(k, clean[0].numel())),
                "spearman": spearman(clean, adv),
                "mass_center_dislocation": mass_center_dislocation(clean, adv),
                "cosine_distance": cosine_distance(clean, adv),
            }
    return results
