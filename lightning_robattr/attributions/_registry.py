"""Attribution methods by name: one :class:`AttributionMethod` record per method, the one place that knows it."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, get_args

from torch import Tensor

from .._validation import check_choice, check_keywords
from ._cam import cam
from ._deeplift import deeplift
from ._grad import grad
from ._grad_cam import grad_cam
from ._grad_cam_pp import grad_cam_pp
from ._grad_cam_pp_int_repo import grad_cam_pp_int_repo
from ._integrated_gradients import integrated_gradients
from ._mask import mask, tracked_mask
from ._representation import representation
from ._rts import rts
from ._saliency import saliency
from ._smooth_grad import smooth_grad
from ._uni_grad import uni_grad

Grid = Literal["input", "feature", "coarse"]
Surrogate = Literal["relu_derivative", "softplus", "none"]


@dataclass(frozen=True)
class AttributionMethod:
    """What the package knows about one attribution method; :data:`ATTRIBUTION_METHODS` holds one per name.

    Attributes:
        name: the canonical name, what ``get_attribution``, configs and logged tags use.
        function: ``fn(model, x, target=None, *, create_graph=False, **options) -> Tensor``.
        grid: where the map lies: ``"input"`` (the image's ``H x W``: gradient maps ``(B, C, H, W)``,
            MASK ``(B, H, W)``), ``"feature"`` (the net's feature grid ``h x w``: the CAM family, Repr)
            or ``"coarse"`` (a grid of the method's own: GRAD's pooling, RTS's masking network).
        surrogate: how attacks differentiate the map (``attacks.explanation.maps.surrogate``, ``kind="auto"``):
            ``"softplus"`` (gradient maps: a ReLU net's input Hessian vanishes), ``"relu_derivative"``
            (the ADV2 authors' stand-in for GRAD) or ``"none"`` (first-order maps, read off the forward
            pass or off the constant gradient at a GAP head).
        tracker: for a map that is an optimisation, how attacks follow it across their iterations
            instead of differentiating it whole (``mask.tracked_mask``); ``None``: differentiated whole.
        per_class: ``False`` where the map ignores ``target`` (Repr: its ``K`` channels stand in for classes).
        required: ``{option: what it is}`` of the options the method cannot run without.
        defaults: options the name binds (``grad_x_input`` is ``saliency`` with ``multiply_by_inputs=True``).
        adv2_schedule: the ADV2 authors' schedule the method is attacked with (a key of
            ``attacks.ADV2_SCHEDULES``; CAM's for the methods they did not attack).
        bounded: the map already lies in [0, 1] (MASK's and RTS's masks), so ADV2 compares it raw, as
            its authors do; other maps are min-max normalised per image first.
    """

    name: str
    function: Callable[..., Tensor]
    grid: Grid
    surrogate: Surrogate
    tracker: Callable[..., Callable[[Tensor], Tensor]] | None = None
    per_class: bool = True
    required: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    adv2_schedule: str = "cam"
    bounded: bool = False

    def __post_init__(self) -> None:
        check_choice(self.grid, get_args(Grid), name=f"grid of the attribution {self.name!r}")
        check_choice(self.surrogate, get_args(Surrogate), name=f"surrogate of the attribution {self.name!r}")


_RTS_NETWORK = "its masking network, an RTSNet or an RTSModule checkpoint path (train one with configs/rts.yaml)"

ATTRIBUTION_METHODS: dict[str, AttributionMethod] = {
    method.name: method
    for method in (
        AttributionMethod("saliency", saliency, "input", "softplus"),
        AttributionMethod("grad_x_input", saliency, "input", "softplus", defaults={"multiply_by_inputs": True}),
        AttributionMethod("ig", integrated_gradients, "input", "softplus"),
        AttributionMethod("smoothgrad", smooth_grad, "input", "softplus"),
        AttributionMethod("unigrad", uni_grad, "input", "softplus"),
        AttributionMethod("cam", cam, "feature", "none"),
        AttributionMethod("gradcam", grad_cam, "feature", "none"),
        AttributionMethod("gradcampp", grad_cam_pp, "feature", "none"),
        AttributionMethod("gradcampp_int_repo", grad_cam_pp_int_repo, "feature", "none"),
        AttributionMethod("repr", representation, "feature", "none", per_class=False),
        AttributionMethod("deeplift", deeplift, "input", "softplus"),
        AttributionMethod("mask", mask, "input", "softplus", tracker=tracked_mask, adv2_schedule="mask", bounded=True),
        AttributionMethod("grad", grad, "coarse", "relu_derivative", adv2_schedule="grad"),
        AttributionMethod("rts", rts, "coarse", "none", required={"saliency_net": _RTS_NETWORK}, adv2_schedule="rts", bounded=True),
    )
}
"""``{name: record}`` of every method, in the order error messages list them."""

_ALIASES = {
    method.function.__name__: method.name
    for method in ATTRIBUTION_METHODS.values()
    if method.function.__name__ not in ATTRIBUTION_METHODS
}
"""Each method's function name, where it is not a method name itself (``integrated_gradients`` -> ``ig``)."""


def attribution_record(name: str, *, option: str = "attribution") -> AttributionMethod:
    """The record of method ``name``, a canonical name or its function's name (``"integrated_gradients"`` is ``"ig"``).

    Raises ``ValueError`` for an unknown name, listing the canonical ones (``option`` names the setting in the message).

    Example:
        >>> attribution_record("grad_cam_pp").name, attribution_record("gradcampp").surrogate
        ('gradcampp', 'none')
    """
    name = _ALIASES.get(name, name) if isinstance(name, str) else name
    check_choice(name, ATTRIBUTION_METHODS, name=option)
    return ATTRIBUTION_METHODS[name]


def get_attribution(name: str, **options) -> Callable[..., Tensor]:
    """The attribution method ``name`` with ``options`` bound: call it as ``fn(model, x, target=None, **more)``.

    Raises ``ValueError`` for an unknown name or an option the method does not take.

    Names: ``saliency, grad_x_input, ig, smoothgrad, unigrad, cam, gradcam, gradcampp, gradcampp_int_repo, repr,
    deeplift, mask, grad, rts`` (``rts`` needs ``saliency_net=``, a trained masking network or an ``RTSModule``
    checkpoint path), or a method's function name (``integrated_gradients``, ``grad_cam_pp``, ...).

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> ig = get_attribution("ig", steps=8)
        >>> ig(Small().eval(), torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 1, 28, 28])
    """
    method = attribution_record(name)
    check_keywords(options, method.function, name=f"the options of the attribution {method.name!r}")
    return partial(method.function, **{**method.defaults, **options})


ATTRIBUTIONS: dict[str, Callable[..., Tensor]] = {name: get_attribution(name) for name in ATTRIBUTION_METHODS}
"""``{name: the method with its name's defaults bound}``, for code that needs only the functions."""
