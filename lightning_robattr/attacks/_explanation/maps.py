"""The maps that attribution attacks compare: one non-negative, normalised map per image."""

import math
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, get_args

from torch import Tensor, nn

from ..._random_state import isolated_random_state, seed_global
from ...attributions import attribution_record, get_attribution
from ...attributions._registry import Surrogate
from ...metrics.functional import reduce_channels
from ...models import relu_derivative_surrogate, softplus_surrogate

NORMALIZATIONS = ("sum1", "sum_hw")
MAP_NOISE = ("shared", "redrawn")
MAP_NOISE_SEED = 0
SURROGATES = ("auto", *get_args(Surrogate))


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


def evaluated_maps(
    model: nn.Module,
    x: Tensor,
    label: Tensor,
    method: str,
    options: Mapping[str, Any] | None = None,
    *,
    noise: str = "shared",
    normalize: str = "sum1",
) -> Tensor:
    """``(B, h, w)``: the detached, normalised map (:func:`normalized_map`) of class ``label (B,)`` that evaluations compare.

    ``noise`` says where stochastic maps (SmoothGrad, UniGrad) draw their noise: ``"shared"``
    from one fixed seed, the global random state left as it was, so a clean and an attacked
    image get the same noise (common random numbers: their similarity measures the perturbation,
    not the sampling noise); ``"redrawn"`` from the global random state as it stands, fresh at
    every call (the evaluation code of "Smoothed Geometry for Robust Attribution").
    """
    if noise not in MAP_NOISE:
        raise ValueError(f"noise must be one of {MAP_NOISE}, got {noise!r}")
    explain = get_attribution(method, **(options or {}))
    if noise == "redrawn":
        return normalized_map(explain(model, x, label), normalize).detach()
    with isolated_random_state(x.device):
        seed_global(MAP_NOISE_SEED, x.device)
        return normalized_map(explain(model, x, label), normalize).detach()


def manipulate_targets(
    model: nn.Module, label: Tensor, pool: Tensor, pool_labels: Tensor, method: str, options: Mapping[str, Any] | None, *, noise: str
) -> Tensor:
    """``(B, h, w)``: the target maps of the ``manipulate`` objective for images of class ``label (B,)``.

    Each image is steered towards the clean map (of its own class) of the first image of
    ``pool (N, C, H, W)`` whose class in ``pool_labels (N,)`` differs from its own: always another
    image's map, whatever the batch holds (Dombrowski et al. steer towards another image's map;
    the SSR code uses one fixed target map).
    """
    pool_labels = pool_labels.to(label.device)
    other = pool_labels[None, :] != label[:, None]
    if not other.any(dim=1).all():
        raise ValueError("the manipulate objective needs evaluation images of at least two classes (its targets are maps of another class)")
    first = other.float().argmax(dim=1)
    chosen, index = first.unique(return_inverse=True)
    maps = evaluated_maps(model, pool[chosen.to(pool.device)].to(label.device).float(), pool_labels[chosen], method, options, noise=noise)
    return maps[index]


def check_beta(beta: float | None) -> None:
    """Raise unless ``beta`` (the surrogate's softplus sharpness) is a finite number > 0 or ``None`` (the model itself)."""
    if beta is not None and (isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 < beta < math.inf):
        raise ValueError(f"beta must be a positive softplus sharpness, or None to differentiate the model itself; got {beta!r}")


def surrogate(model: nn.Module, method: str, beta: float | None = 1.0, kind: str = "auto") -> AbstractContextManager:
    """The context in which an attack differentiates ``method``'s map.

    Gradient maps of ReLU nets have zero input Hessian almost everywhere, so their attack direction
    is taken on a smooth stand-in: ``kind="softplus"`` (``models.softplus_surrogate(model, beta)``),
    ``"relu_derivative"`` (``models.relu_derivative_surrogate``, the ADV2 authors' choice for GRAD),
    ``"none"``, or ``"auto"``: the method's own, ``attributions.attribution_record(method).surrogate`` (nothing
    for first-order maps: the CAM family, Repr, RTS; the ReLU derivative for ``grad``; softplus for the
    others). ``beta=None`` always uses the model as it is.
    """
    if kind not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES}, got {kind!r}")
    if kind == "auto":
        kind = attribution_record(method).surrogate
    if beta is None or kind == "none":
        return nullcontext(model)
    if kind == "relu_derivative":
        return relu_derivative_surrogate(model)
    return softplus_surrogate(model, beta)
