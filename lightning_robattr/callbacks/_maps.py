"""What the attribution evaluation callbacks share: the size of a method's map grid, the check of their method options."""

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from .._validation import check_choice
from ..attacks._explanation.maps import evaluated_maps
from ..attributions import attribution_record, get_attribution


def map_size(model: nn.Module, example: Tensor, method: str, options: Mapping[str, Any] | None) -> int:
    """Number of cells of ``method``'s map of ``example (1, C, H, W)`` (``H*W``, or ``h*w`` for the CAM family)."""
    return evaluated_maps(model, example, model(example).argmax(dim=1), method, options)[0].numel()


def method_names(methods: Sequence[str], *, option: str) -> list[str]:
    """The canonical registry names of ``methods`` (function names such as ``integrated_gradients`` are aliases);
    raises for an unknown one, naming the callback option ``option``."""
    return [attribution_record(method, option=f"{option} entry").name for method in methods]


def checked_method_options(
    method_options: Mapping[str, Mapping[str, Any]] | None, methods: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``method_options`` as plain dicts, after checking that every method exists and each configured one
    is listed and takes those options (so a bad config fails before training)."""
    options = {attribution_record(m, option="method in method_options").name: dict(o) for m, o in (method_options or {}).items()}
    for method in options:
        check_choice(method, sorted(set(methods)), name="method in method_options (configure only listed methods)")
    for method in methods:
        get_attribution(method, **options.get(method, {}))
    return options
