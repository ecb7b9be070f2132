"""What the attribution evaluation callbacks share: the size of a method's map grid, the attack's arguments."""

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

from ..attacks.explanation.maps import evaluated_maps


def map_size(model: nn.Module, example: Tensor, method: str, options: Mapping[str, Any] | None) -> int:
    """Number of cells of ``method``'s map of ``example (1, C, H, W)`` (``H*W``, or ``h*w`` for the CAM family)."""
    return evaluated_maps(model, example, model(example).argmax(dim=1), method, options)[0].numel()


def attack_arguments(objective: str, attack_options: Mapping[str, Any], targets: Callable[[], Tensor]) -> dict[str, Any]:
    """``attack_options`` for ``attribution_attack``; ``manipulate`` without a ``target_map`` gets ``targets()``
    (``attacks.explanation.maps.manipulate_targets``: the clean map of an image of another class)."""
    options = dict(attack_options)
    if objective == "manipulate" and "target_map" not in options:
        options["target_map"] = targets()
    return options
