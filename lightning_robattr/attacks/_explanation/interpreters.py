"""The interpreters ADV2 attacks, the maps it compares (min-max normalised unless already in [0, 1]), and how an attack differentiates each one."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from ...attributions import attribution_record, get_attribution
from ...metrics.functional import reduce_channels
from .maps import surrogate

DifferentiableMap = Callable[[Tensor], Tensor]
"""``x_adv (B, C, H, W) -> (B, h, w)``: the compared map (``compared_map``) with a graph back to ``x_adv`` (may keep state across calls)."""


def min_max_normalized(maps: Tensor) -> Tensor:
    """``(B, h, w)`` maps rescaled per image to [0, 1] (a constant map becomes 0)."""
    flat = maps.flatten(1)
    low, high = flat.amin(dim=1), flat.amax(dim=1)
    return ((flat - low[:, None]) / (high - low).clamp_min(1e-8)[:, None]).view_as(maps)


def compared_map(method: str, raw: Tensor) -> Tensor:
    """``(B, h, w)``: the map ADV2 compares from ``method``'s output ``raw``, as the ADV2 authors compare it.

    Gradient maps ``(B, C, H, W)`` are reduced by ``abs_sum``. A map already in [0, 1]
    (``AttributionMethod.bounded``: MASK's and RTS's masks) is kept raw; any other (GRAD, CAM, ...)
    is min-max normalised per image.
    """
    maps = reduce_channels(raw, "abs_sum") if raw.dim() == 4 else raw
    return maps if attribution_record(method).bounded else min_max_normalized(maps)


def interpreter_map(model: nn.Module, x: Tensor, label: Tensor, method: str, options: Mapping[str, Any] | None = None) -> Tensor:
    """``(B, h, w)`` in [0, 1]: the detached ``compared_map`` of class ``label (B,)`` on the interpreter's own grid.

    ``grad`` (pooled loss gradient) and ``cam`` (feature grid) min-max normalised per image, ``mask``
    (image grid) and ``rts`` (its network's grid) raw. This is the map ADV2's losses, IoU and
    distances compare, as the authors do.
    """
    return compared_map(method, get_attribution(method, **(options or {}))(model, x, label)).detach()


def differentiable_map(
    model: nn.Module,
    label: Tensor,
    method: str,
    options: Mapping[str, Any] | None = None,
    *,
    surrogate_kind: str = "auto",
    beta: float = 1.0,
    mask_inner_steps: int = 4,
    mask_restart_every: int = 50,
) -> DifferentiableMap:
    """The map of class ``label`` as a function of the attacked input, differentiated as ADV2 needs.

    For a map differentiated whole: the ``compared_map`` computed with ``create_graph`` inside
    ``maps.surrogate(model, method, beta, kind=surrogate_kind)``. For a map that is an optimisation
    (``AttributionMethod.tracker``: MASK), the function keeps the optimiser's state across calls, as
    the ADV2 authors track it: a full run on the first call and every ``mask_restart_every`` calls, then
    per call ``mask_inner_steps`` plain steps at the current input and one step written out with a graph,
    whose map is returned. Under ``"auto"`` that step runs on the model itself, as the authors run it:
    MASK's input gradient flows through ``x - blur(x)`` and needs no stand-in for ReLU.
    """
    options = dict(options or {})
    tracker = attribution_record(method).tracker
    if tracker is None:
        explain = get_attribution(method, **options)

        def attacked(x_adv: Tensor) -> Tensor:
            with surrogate(model, method, beta, kind=surrogate_kind):
                return compared_map(method, explain(model, x_adv, label, create_graph=True))

        return attacked
    kind = "none" if surrogate_kind == "auto" else surrogate_kind
    follow = tracker(
        model, label, step_context=lambda: surrogate(model, method, beta, kind=kind),
        inner_steps=mask_inner_steps, restart_every=mask_restart_every, **options,
    )
    return lambda x_adv: compared_map(method, follow(x_adv))


def options_per_interpreter(names: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``{name: its options}`` for every method of ``names`` (``{}`` where ``options`` has none), checked before any work.

    Raises ``ValueError`` for an unknown method, an option it does not take, or a missing
    required one (``AttributionMethod.required``: ``rts`` without ``saliency_net``).
    """
    chosen = {name: dict((options or {}).get(name, {})) for name in names}
    for name, bound in chosen.items():
        get_attribution(name, **bound)
        for option, what in attribution_record(name).required.items():
            if option not in bound:
                raise ValueError(f"the {name} method needs {what}: give its options {{{option!r}: ...}}")
    return chosen


def map_distances(maps: Tensor, target_maps: Tensor) -> dict[str, Tensor]:
    """Per image ``(B,)``: ``interpretation_loss`` (mean squared difference), ``l1`` (L1 / (h w)) and ``l2`` (L2 / sqrt(h w))."""
    difference = (maps - target_maps).flatten(1)
    cells = difference.shape[1]
    return {
        "interpretation_loss": difference.pow(2).mean(dim=1),
        "l1": difference.abs().sum(dim=1) / cells,
        "l2": difference.norm(dim=1) / cells**0.5,
    }
