"""Attacks that move an explanation while keeping the prediction (Ghorbani et al., Alg. 1)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_choice, check_nonnegative
from ...attributions import get_attribution
from ...models import evaluation_mode, flushed_denormals
from .._ascent import KeepBest, projected_gradient_ascent
from .._attack_config import AttackConfig, check_step_options, default_step_size, resolve_config
from .._budget import Budget, parse_eps
from .constraint import CONSTRAINTS, constrained_threat
from .maps import NORMALIZATIONS, check_beta, normalized_map, surrogate
from .objectives import OBJECTIVES, Dissimilarity, check_k, dissimilarity
from .random_sign import random_sign


@dataclass(frozen=True)
class AttributionAttackConfig(AttackConfig):
    """The hyperparameters of :func:`attribution_attack` (the method, objective and budget are arguments of the call).

    Attributes:
        steps: iterations (Ghorbani et al. 300; the SSR paper 50).
        step_size: step length in the ball's norm, pixel units; ``None``: ``2.5 * eps / steps``.
        norm: ``"linf"`` or ``"l2"``.
        constraint: ``"clip"`` (Euclidean projection, Ghorbani et al.) or ``"rescale"`` (shrink the
            whole perturbation back into the L-inf ball, the SSR paper).
        k: top-k size of the ``topk`` objective (and of the callbacks' top-k intersection): an int,
            or a fraction in (0, 1) of the map's cells.
        map_weight, output_weight: ``manipulate``'s two weights (Dombrowski et al.: 1e11, 1e6).
        measure: the objective whose ``D`` (on the original model) selects the returned iterate and
            fills the record; ``None``: the attack's objective (``topk`` for ``random_sign``).
        normalize: ``"sum1"`` (maps sum to 1) or ``"sum_hw"`` (sum to ``h*w``, the Ghorbani/SSR code).
        beta: softplus sharpness of the surrogate; ``None`` differentiates the model itself. CAM,
            GradCAM(++) and Repr are always differentiated on the model (first-order maps).
        random_start: start from a uniform point of the ball instead of ``x`` (the papers do not).
    """

    steps: int = 50
    step_size: float | None = None
    norm: Literal["linf", "l2"] = "linf"
    constraint: Literal["clip", "rescale"] = "clip"
    k: int | float = 0.1
    map_weight: float = 1e11
    output_weight: float = 1e6
    measure: Literal["topk", "mass_center", "rank", "targeted", "manipulate"] | None = None
    normalize: Literal["sum1", "sum_hw"] = "sum1"
    beta: float | None = 1.0
    random_start: bool = False

    def check(self) -> None:
        check_step_options(self.steps, self.step_size, self.norm)
        check_choice(self.constraint, CONSTRAINTS, name="constraint")
        check_k(self.k)
        check_nonnegative(self.map_weight, "map_weight")
        check_nonnegative(self.output_weight, "output_weight")
        if self.measure is not None:
            check_choice(self.measure, OBJECTIVES[1:], name="dissimilarity measure")
        check_choice(self.normalize, NORMALIZATIONS, name="normalize")
        check_beta(self.beta)


class AttributionAttackRecord(NamedTuple):
    """What happened at every iterate, measured on the original model.

    Attributes:
        dissimilarity: ``(steps, B)`` the measured dissimilarity of each iterate (larger = more changed);
            one row for ``random_sign``.
        label_kept: ``(steps, B)`` whether the iterate kept the clean prediction.
        success: ``(B,)`` whether some iterate kept the prediction; the others return the clean image.
    """

    dissimilarity: Tensor
    label_kept: Tensor
    success: Tensor

    @property
    def best_dissimilarity(self) -> Tensor:
        """``(B,)`` the returned image's dissimilarity; ``-inf`` where no iterate kept the prediction."""
        return self.dissimilarity.masked_fill(~self.label_kept, float("-inf")).amax(dim=0)


def attribution_attack(
    model: nn.Module,
    x: Tensor,
    *,
    eps: Budget,
    method: str = "saliency",
    objective: str = "topk",
    config: AttributionAttackConfig | None = None,
    region: Tensor | None = None,
    target_map: Tensor | None = None,
    method_options: Mapping[str, Any] | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[Tensor, AttributionAttackRecord]:
    """Perturb ``x`` within ``eps`` so that its attribution map changes but its predicted label does not.

    The map ``I(x)`` is the attribution of the predicted class, ``|.|`` summed over channels and
    normalised (``normalize``). Each step moves ``step_size`` along the signed (L-inf) or
    normalised (L2) gradient of the dissimilarity ``D`` (``objective``), taken on the softplus
    surrogate of the model (sharpness ``beta``) for gradient maps, then applies the constraint.
    Every iterate is judged on the original model: the image returned for each example is the
    iterate with the largest ``D`` among those that keep the clean label (Ghorbani et al., Alg. 1);
    an example none of whose iterates keeps the label returns the clean image, unsuccessful.

    Objectives (``D``, larger is better for the attacker):

    ===============  ========================================================================
    ``random_sign``  the baseline ``x + eps * s``, ``s`` uniform signs (one draw; ignores steps)
    ``topk``         ``-sum_{i in TopK(I(x))} I(x')_i`` (``k`` cells)
    ``mass_center``  ``||C(I(x')) - C(I(x))||^2``, centres of mass in pixels
    ``rank``         ``-corr(R(I(x)), I(x'))``, ``R`` the clean map's ranks (lowers rank correlations)
    ``targeted``     ``sum_{i in region} I(x')_i`` (``region``: boolean mask of the map grid)
    ``manipulate``   ``-(map_weight MSE(I(x'), target_map) + output_weight MSE(p(x'), p(x)))``
                     (Dombrowski et al.; defaults 1e11 and 1e6 are theirs, with ``normalize="sum1"``)
    ===============  ========================================================================

    Args:
        model: classifier on pixel-space images; run in eval mode and fp32, restored afterwards.
        x: clean images ``(B, C, H, W)`` in [0, 1].
        eps: budget in pixel units (MNIST 0.1-0.3; CIFAR ``"8/255"``).
        method: an attribution name of ``attributions.get_attribution`` (``saliency``, ``ig``, ``cam``, ...).
        objective: one of the table above.
        config: the hyperparameters (:class:`AttributionAttackConfig`, default ``AttributionAttackConfig()``).
        region: ``targeted`` objective's mask ``(h, w)`` or ``(B, h, w)``.
        target_map: ``manipulate`` objective's target attribution (any shape ``normalized_map`` reads).
        method_options: options bound to the attribution (e.g. ``{"steps": 20}`` for IG,
            ``{"generator": g}`` to seed SmoothGrad's noise).
        generator: random source for ``random_sign`` and the random start.
        **options: fields of :class:`AttributionAttackConfig` replaced for this call (``steps=100, beta=10``).

    Returns:
        ``(x_adv, record)``: ``x_adv (B, C, H, W)`` detached, and an ``AttributionAttackRecord``.

    Cost per step (saliency): 1 forward + 1 double backward on the surrogate, then 2 forward + 1
    backward on the model to judge the iterate; IG, SmoothGrad and UniGrad multiply it by their samples.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = attribution_attack(net, x, method="saliency", objective="topk", eps=0.1, steps=2, k=100)
        >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6), record.success.shape  # score maps over record.success
        (True, torch.Size([4]))
    """
    (x,) = check_batch(model, x)
    config = resolve_config(AttributionAttackConfig, config, options)
    check_choice(objective, OBJECTIVES, name="objective")
    eps = parse_eps(eps)
    threat = constrained_threat(config.norm, eps, config.constraint)
    step_size = default_step_size(threat.eps, config.steps, config.step_size)
    explain = get_attribution(method, **(method_options or {}))
    normalize = config.normalize
    x = x.detach()
    with evaluation_mode(model), flushed_denormals():
        with torch.no_grad():
            clean_logits = model(x)
        maps = LabelMaps(model, explain, clean_logits.argmax(dim=1), normalize)
        clean_maps = maps(x)
        settings = dict(
            k=config.k, region=region, target_map=target_map, normalize=normalize, map_weight=config.map_weight,
            output_weight=config.output_weight,
        )
        attack_d = None if objective == "random_sign" else dissimilarity(objective, clean_maps, clean_logits, **settings)
        measure = config.measure or ("topk" if objective == "random_sign" else objective)
        judge = IterateJudge(x, maps, dissimilarity(measure, clean_maps, clean_logits, **settings))
        if attack_d is None:
            judge(random_sign(x, eps=eps, norm=config.norm, generator=generator), 1)
        else:
            ascent = MapObjective(maps, attack_d, method=method, beta=config.beta, reads_logits=objective == "manipulate")
            projected_gradient_ascent(
                ascent, x, threat, steps=config.steps, step_size=step_size, random_start=config.random_start,
                generator=generator, on_iterate=judge,
            )
    return judge.best.x, judge.record()


class LabelMaps:
    """The normalised maps ``(B, h, w)`` of the clean prediction ``label (B,)`` under one bound attribution."""

    def __init__(self, model: nn.Module, explain: Callable[..., Tensor], label: Tensor, normalize: str) -> None:
        self.model, self.explain, self.label, self.normalize = model, explain, label, normalize

    def __call__(self, x_in: Tensor, create_graph: bool = False) -> Tensor:
        return normalized_map(self.explain(self.model, x_in, self.label, create_graph=create_graph), self.normalize)


class MapObjective:
    """The attack objective ``(x_adv, step) -> D (B,)``, differentiated on the surrogate ``kind`` of ``method`` (``beta``; see ``surrogate``)."""

    def __init__(
        self, maps: LabelMaps, attack_d: Dissimilarity, *, method: str, beta: float | None, reads_logits: bool, kind: str = "auto"
    ) -> None:
        self.maps, self.attack_d, self.method, self.beta, self.reads_logits, self.kind = maps, attack_d, method, beta, reads_logits, kind

    def __call__(self, x_adv: Tensor, step: int) -> Tensor:
        with surrogate(self.maps.model, self.method, self.beta, self.kind):
            logits = self.maps.model(x_adv) if self.reads_logits else None
            return self.attack_d(self.maps(x_adv, create_graph=True), logits)


class IterateJudge:
    """The ``on_iterate`` hook: measures each iterate on the original model, records it, and keeps per
    example the iterate of largest ``measure_d`` among those that keep the clean label (else the clean image)."""

    def __init__(self, x: Tensor, maps: LabelMaps, measure_d: Dissimilarity) -> None:
        self.maps, self.measure_d = maps, measure_d
        self.best = KeepBest(x.clone(), x.new_full((x.shape[0],), float("-inf")))
        self.values: list[Tensor] = []
        self.kept: list[Tensor] = []

    def __call__(self, x_adv: Tensor, step: int) -> None:
        with torch.no_grad():
            logits = self.maps.model(x_adv)
        value, kept = self.measure_d(self.maps(x_adv), logits).detach(), logits.argmax(dim=1) == self.maps.label
        self.values.append(value)
        self.kept.append(kept)
        self.best.offer(x_adv, value.masked_fill(~kept, float("-inf")))

    def record(self) -> AttributionAttackRecord:
        """The record of every iterate judged so far."""
        return AttributionAttackRecord(torch.stack(self.values), torch.stack(self.kept), self.best.score > float("-inf"))
