"""The dissimilarities attribution attacks maximise (Ghorbani et al., Alg. 1; Dombrowski et al.).

Each objective is built from the clean image's normalised map ``I(x) (B, h, w)`` and returns a
function ``D(maps, logits) -> (B,)`` of a perturbed image's normalised map ``I(x')`` and logits
(only ``manipulate`` reads the logits). Larger ``D`` means a more successful attack.
"""

from collections.abc import Callable

import torch
from torch import Tensor

from ...metrics.functional import average_ranks, mass_center, topk_indices
from .maps import normalized_map

OBJECTIVES = ("random_sign", "topk", "mass_center", "rank", "targeted", "manipulate")
Dissimilarity = Callable[[Tensor, Tensor | None], Tensor]


def check_k(k: int | float) -> None:
    """Raise unless ``k`` is an int >= 1 or a fraction in (0, 1) (no map needed, so configs are checked early)."""
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not (k >= 1 if isinstance(k, int) else 0 < k < 1):
        raise ValueError(f"k must be an int >= 1 or a fraction in (0, 1) of the map's cells, got {k!r}")


def resolve_k(k: int | float, size: int) -> int:
    """``k`` features: an int as given, a float in (0, 1) as that share of ``size`` (at least 1)."""
    check_k(k)
    count = k if isinstance(k, int) else max(1, round(k * size)) if 0 < k < 1 else 0
    if not 1 <= count <= size:
        raise ValueError(f"k must be an int in [1, {size}] (the map size) or a fraction in (0, 1), got {k!r}")
    return count


def topk(clean_maps: Tensor, *, k: int | float) -> Dissimilarity:
    """``D = -sum_{i in B} I(x')_i``, ``B`` the ``k`` largest cells of ``I(x)``: push mass off the top features."""
    flat = clean_maps.flatten(1)
    mask = torch.zeros_like(flat).scatter_(1, topk_indices(flat, resolve_k(k, flat.shape[1])), 1.0)
    return lambda maps, logits=None: -(maps.flatten(1) * mask).sum(dim=1)


def mass_center_shift(clean_maps: Tensor) -> Dissimilarity:
    """``D = ||C(I(x')) - C(I(x))||_2^2`` in pixels^2 (squared, as the Ghorbani code; smooth at 0)."""
    center = mass_center(clean_maps)
    return lambda maps, logits=None: (mass_center(maps) - center).pow(2).sum(dim=1)


def rank_decorrelation(clean_maps: Tensor) -> Dissimilarity:
    """``D = -corr(R(I(x)), I(x'))``: the Pearson correlation of the clean map's ranks with the new map, negated.

    Lowering it moves mass from the clean map's high-ranked cells to its low-ranked ones, all cells
    weighted by rank rather than by value: the direction that lowers a rank correlation (Spearman,
    Kendall), where ``topk`` moves only the top cells.
    """
    ranks = average_ranks(clean_maps.flatten(1)).to(clean_maps.dtype)
    ranks = ranks - ranks.mean(dim=1, keepdim=True)
    ranks = ranks / ranks.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def dissimilarity(maps: Tensor, logits: Tensor | None = None) -> Tensor:
        flat = maps.flatten(1)
        flat = flat - flat.mean(dim=1, keepdim=True)
        return -(flat * ranks).sum(dim=1) / flat.norm(dim=1).clamp_min(1e-12)

    return dissimilarity


def targeted_region(clean_maps: Tensor, *, region: Tensor) -> Dissimilarity:
    """``D = sum_{i in A} I(x')_i``: pull mass into the region ``A`` (a boolean mask ``(h, w)`` or ``(B, h, w)``)."""
    region = torch.as_tensor(region, device=clean_maps.device)
    if region.dtype != torch.bool or region.shape[-2:] != clean_maps.shape[-2:] or region.dim() not in (2, 3):
        raise ValueError(
            f"region must be a boolean mask of shape {tuple(clean_maps.shape[-2:])} or "
            f"{tuple(clean_maps.shape)} (the map grid), got {region.dtype} {tuple(region.shape)}"
        )
    weights = region.expand_as(clean_maps).to(clean_maps.dtype)
    return lambda maps, logits=None: (maps * weights).flatten(1).sum(dim=1)


def manipulate(
    clean_maps: Tensor, clean_logits: Tensor, *, target_map: Tensor, normalize: str, map_weight: float, output_weight: float
) -> Dissimilarity:
    """``D = -(beta0 MSE(I(x'), h_t) + beta1 MSE(p(x'), p(x)))`` (Dombrowski et al.; MSE = mean per image).

    ``target_map`` is any attribution ``(B, C, H, W)``, ``(B, h, w)`` or ``(h, w)`` on the map grid;
    it is normalised like the attacked maps. ``p`` is the softmax output.
    """
    target_map = torch.as_tensor(target_map, dtype=clean_maps.dtype, device=clean_maps.device)
    if target_map.dim() == 2:
        target_map = target_map.expand_as(clean_maps)
    if target_map.shape[0] != clean_maps.shape[0] or target_map.shape[-2:] != clean_maps.shape[-2:]:
        raise ValueError(
            f"target_map must cover the map grid {tuple(clean_maps.shape[-2:])} for each of the "
            f"{clean_maps.shape[0]} images, got shape {tuple(target_map.shape)}"
        )
    target = normalized_map(target_map, normalize)
    probs = clean_logits.softmax(dim=1)

    def dissimilarity(maps: Tensor, logits: Tensor | None) -> Tensor:
        assert logits is not None
        map_error = (maps - target).pow(2).flatten(1).mean(dim=1)
        output_error = (logits.softmax(dim=1) - probs).pow(2).mean(dim=1)
        return -(map_weight * map_error + output_weight * output_error)

    return dissimilarity


def dissimilarity(
    name: str,
    clean_maps: Tensor,
    clean_logits: Tensor | None,
    *,
    k: int | float,
    region: Tensor | None,
    target_map: Tensor | None,
    normalize: str,
    map_weight: float,
    output_weight: float,
) -> Dissimilarity:
    """The objective ``name`` (``topk``, ``mass_center``, ``rank``, ``targeted`` or ``manipulate``) around the clean maps."""
    if name == "topk":
        return topk(clean_maps, k=k)
    if name == "mass_center":
        return mass_center_shift(clean_maps)
    if name == "rank":
        return rank_decorrelation(clean_maps)
    if name == "targeted":
        if region is None:
            raise ValueError("the targeted objective needs region, a boolean mask of the map grid")
        return targeted_region(clean_maps, region=region)
    if name == "manipulate":
        if target_map is None:
            raise ValueError("the manipulate objective needs target_map, the map to steer towards")
        weights = dict(map_weight=map_weight, output_weight=output_weight)
        return manipulate(clean_maps, clean_logits, target_map=target_map, normalize=normalize, **weights)
    raise ValueError(f"unknown dissimilarity {name!r}; choose one of {OBJECTIVES[1:]}")
