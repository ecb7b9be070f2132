"""How clean and attacked attribution maps are compared: the five similarity metrics and their options."""

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from ..._validation import check_choice
from ...metrics.functional import cosine_distance, kendall_tau, mass_center_dislocation, spearman, topk_intersection
from ...metrics.functional._topk_intersection import TOPK_MODES
from .maps import MAP_NOISE

SIMILARITY_METRICS = ("topk_intersection", "spearman", "kendall_tau", "mass_center_dislocation", "cosine_distance")
HIGHER_IS_ROBUST = {
    "topk_intersection": True, "spearman": True, "kendall_tau": True, "mass_center_dislocation": False, "cosine_distance": False,
}
"""For each metric, whether a larger value means a more robust map (so an attacker lowers it)."""


@dataclass(frozen=True)
class MapScoring:
    """How attacked maps are compared with the clean ones.

    Attributes:
        topk_mode: ``"set"`` (Ghorbani et al.) or ``"mass"`` (SSR paper text) top-k intersection.
        int_cast: truncate mass centres to integers before their distance (the Ghorbani/SSR code).
        map_noise: the noise of the compared SmoothGrad/UniGrad maps: ``"shared"`` (one fixed draw
            for the clean and the attacked map) or ``"redrawn"`` (fresh for each map, as the SSR
            paper's code evaluates).
    """

    topk_mode: Literal["set", "mass"] = "set"
    int_cast: bool = False
    map_noise: Literal["shared", "redrawn"] = "shared"

    def __post_init__(self) -> None:
        check_choice(self.topk_mode, TOPK_MODES, name="topk_mode")
        check_choice(self.map_noise, MAP_NOISE, name="map_noise")


def check_metrics(metrics: object) -> list[str]:
    """``metrics`` as a list, after checking it is a non-empty subset of ``SIMILARITY_METRICS``."""
    names = [metrics] if isinstance(metrics, str) else list(metrics)  # type: ignore[call-overload]
    if not names or set(names) - set(SIMILARITY_METRICS):
        raise ValueError(f"metrics must be a non-empty subset of {SIMILARITY_METRICS}, got {names}")
    return names


def map_similarity(name: str, clean_maps: Tensor, adv_maps: Tensor, *, k: int, scoring: MapScoring) -> Tensor:
    """Per-image value ``(B,)`` of metric ``name`` between maps ``(B, h, w)``; ``k`` cells for the top-k intersection.

    NaN where the metric is undefined (a constant map: no ranking, no top-k set).
    """
    if name == "topk_intersection":
        return topk_intersection(clean_maps, adv_maps, k=k, mode=scoring.topk_mode)
    if name == "mass_center_dislocation":
        return mass_center_dislocation(clean_maps, adv_maps, int_cast=scoring.int_cast)
    return {"spearman": spearman, "kendall_tau": kendall_tau, "cosine_distance": cosine_distance}[name](clean_maps, adv_maps)
