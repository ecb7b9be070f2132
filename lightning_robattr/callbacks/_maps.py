"""The attribution maps evaluation callbacks compare and draw: one non-negative map per image."""

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ..attacks.explanation.maps import normalized_map
from ..attributions import get_attribution
from ._isolation import isolated_random_state, seed_global

MAP_NOISE_SEED = 0


def attribution_maps(model: nn.Module, x: Tensor, label: Tensor, method: str, options: Mapping[str, Any] | None) -> Tensor:
    """``(B, h, w)``: ``|attribution|`` of class ``label (B,)`` summed over channels, each map summing to 1.

    The post-processing of the attribution attacks (``attacks.explanation.maps.normalized_map``),
    so the callbacks measure exactly the maps the attacks move; detached. Stochastic maps
    (SmoothGrad, UniGrad) draw their noise from one fixed seed, so a clean and an attacked
    image get the same noise (common random numbers): their similarity measures the
    perturbation, not the sampling noise. The global random state is left as it was.
    """
    with isolated_random_state(x.device):
        seed_global(MAP_NOISE_SEED, x.device)
        return normalized_map(get_attribution(method, **(options or {}))(model, x, label), "sum1").detach()


def map_size(model: nn.Module, example: Tensor, method: str, options: Mapping[str, Any] | None) -> int:
    """Number of cells of ``method``'s map of ``example (1, C, H, W)`` (``H*W``, or ``h*w`` for the CAM family)."""
    return attribution_maps(model, example, model(example).argmax(dim=1), method, options)[0].numel()


def attack_arguments(objective: str, attack_options: Mapping[str, Any], clean_maps: Tensor) -> dict[str, Any]:
    """``attack_options`` for ``attribution_attack``; ``manipulate`` without a ``target_map`` steers each
    image towards the next image's clean map (``clean_maps (B, h, w)`` rolled by one, as Dombrowski et al. pair images)."""
    options = dict(attack_options)
    if objective == "manipulate" and "target_map" not in options:
        options["target_map"] = clean_maps.roll(1, dims=0)
    return options
