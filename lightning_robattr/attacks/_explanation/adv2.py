"""ADV2: fool the classifier and its interpreter together ("Interpretable Deep Learning under Fire", Zhang et al.)."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..._validation import check_batch, check_nonnegative, renamed_keywords
from ...attributions import attribution_record
from ...attributions._rts import saliency_network
from ...metrics.functional import iou
from ...models import evaluation_mode
from .._ascent import KeepBest, projected_gradient_ascent
from .._targets import random_targets
from .._threat_models import per_example, threat_model
from .interpreters import DifferentiableMap, differentiable_map, interpreter_map, map_distances, options_per_interpreter


@dataclass(frozen=True)
class ADV2Schedule:
    """How ADV2 spends its iterations: ``prediction_steps`` on the cross-entropy alone, then ``stages``.

    Attributes:
        prediction_steps: signed steps on ``CE(f(x'), t')`` only (stage 1).
        stages: ``(weight_from, weight_to, steps)`` per joint stage: the interpretation weight ``c``
            goes linearly from ``weight_from`` to ``weight_to`` over ``steps`` iterations.
        keep_confidence: if set, every ``check_every`` iterations the iterate is kept when
            ``p(t' | x') > keep_confidence`` and its interpretation loss is the lowest so far (the
            authors' GRAD attack); the kept iterate is returned where one exists.
        check_every: see ``keep_confidence``.
    """

    prediction_steps: int
    stages: tuple[tuple[float, float, int], ...]
    keep_confidence: float | None = None
    check_every: int = 10

    def __post_init__(self) -> None:
        counts = [self.prediction_steps, *(steps for *_, steps in self.stages)]
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts):
            raise ValueError(f"ADV2 step counts must be integers >= 0, got {counts}")
        if any(w < 0 for low, high, _ in self.stages for w in (low, high)):
            raise ValueError(f"ADV2 weights must be >= 0, got {self.stages}")

    @property
    def steps(self) -> int:
        """All iterations."""
        return self.prediction_steps + sum(steps for *_, steps in self.stages)

    def weights(self) -> list[float]:
        """The interpretation weight ``c`` of every iteration (0 in stage 1)."""
        ramps = [torch.linspace(low, high, steps).tolist() for low, high, steps in self.stages]
        return [0.0] * self.prediction_steps + [w for ramp in ramps for w in ramp]

    def prediction_only(self) -> "ADV2Schedule":
        """Targeted PGD with ADV2's budget: the same number of iterations, all on the cross-entropy."""
        return ADV2Schedule(self.steps, ())

    def scaled(self, factor: float) -> "ADV2Schedule":
        """The schedule with every step count multiplied by ``factor`` (rounded up; quick runs and tests)."""
        stages = tuple((low, high, math.ceil(steps * factor)) for low, high, steps in self.stages)
        return replace(self, prediction_steps=math.ceil(self.prediction_steps * factor), stages=stages)


ADV2_SCHEDULES: dict[str, ADV2Schedule] = {
    "cam": ADV2Schedule(400, ((5.0, 10.0, 1200),)),
    "grad": ADV2Schedule(
        300, ((3.136, 3.136, 301), (12.544, 12.544, 201), (31.36, 31.36, 101), (156.8, 156.8, 101)), keep_confidence=0.8
    ),
    "mask": ADV2Schedule(400, ((5.0, 10.0, 1000),)),
    "rts": ADV2Schedule(300, ((5.0, 10.0, 1000),)),
}
"""The ADV2 authors' schedule per interpreter, for steps of 1/255 at eps 0.031 ("Interpretable Deep Learning under Fire").

Each attribution method names the one it is attacked with (``AttributionMethod.adv2_schedule``: CAM's
for the methods the authors did not attack).

GRAD's weights 0.001, 0.004, 0.01 and 0.05 multiply a squared error summed over a 56 x 56 grid in
their code; restated for the mean squared error used here (times 3136) they keep the authors'
balance on any grid. MASK's weighted joint stage is this package's choice (the authors search the
step size instead)."""


@renamed_keywords(interpreter="method")
def adv2_schedule(method: str | Sequence[str]) -> ADV2Schedule:
    """The authors' schedule of ``method`` (its ``AttributionMethod.adv2_schedule``); CAM's (400 + 1200 steps,
    ``c`` from 5 to 10) for ensembles."""
    return ADV2_SCHEDULES[attribution_record(method).adv2_schedule if isinstance(method, str) else "cam"]


def longest_schedule(schedules: Mapping[str, ADV2Schedule]) -> str:
    """The interpreter whose schedule runs the most iterations: targeted PGD with its budget is the PGD
    row of the transfer matrix and of the ensemble check."""
    return max(schedules, key=lambda name: schedules[name].steps)


class ADV2Record(NamedTuple):
    """Per image ``(B,)``, measured on the original model with the interpreters' real maps of ``t'`` at ``x'``.

    Attributes:
        target: the target labels ``t'``.
        success: whether ``x'`` is classified as ``t'``.
        confidence: ``p(t' | x')``.
        interpretation_loss: mean squared difference between the compared map (``interpreters.compared_map``) and the target map.
        l1: L1 distance to the target map over ``h w``; l2: L2 distance over ``sqrt(h w)``.
        iou: ``metrics.functional.iou`` with the target map (higher: the attack is better hidden).

    With several interpreters (the adaptive attack) the four map measures are their means. ``iou`` is NaN
    where a map is constant (no top cells); the mean over interpreters and ``summary`` leave NaN out.
    """

    target: Tensor
    success: Tensor
    confidence: Tensor
    interpretation_loss: Tensor
    l1: Tensor
    l2: Tensor
    iou: Tensor

    def summary(self) -> dict[str, float]:
        """``success_rate`` over all images; the other measures averaged over the successful ones (NaN if none)."""
        done = self.success.bool()
        means = {
            name: getattr(self, name)[done].float().nanmean().item() if done.any() else math.nan
            for name in ("confidence", "interpretation_loss", "l1", "l2", "iou")
        }
        return {"success_rate": done.float().mean().item(), **means}


def _names(method: str | Sequence[str]) -> list[str]:
    names = [method] if isinstance(method, str) else list(method)
    if not names:
        raise ValueError("method must name at least one attribution method, e.g. 'cam' or ['grad', 'cam']")
    return names


def score_maps(
    model: nn.Module,
    x_adv: Tensor,
    target: Tensor,
    target_maps: Mapping[str, Tensor],
    options: Mapping[str, Mapping[str, Any]],
) -> ADV2Record:
    """The ``ADV2Record`` of ``x_adv`` for targets ``target (B,)``: each interpreter's real map of ``t'`` against ``target_maps[name]``."""
    with torch.no_grad():
        logits = model(x_adv)
    success = logits.argmax(dim=1) == target
    probability = torch.softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    measures: dict[str, list[Tensor]] = {"interpretation_loss": [], "l1": [], "l2": [], "iou": []}
    for name, wanted in target_maps.items():
        maps = interpreter_map(model, x_adv, target, name, options.get(name))
        for key, value in {**map_distances(maps, wanted), "iou": iou(maps, wanted)}.items():
            measures[key].append(value)
    # an interpreter whose map (or target map) is constant has no IoU (NaN): average the defined ones
    means = {key: torch.stack(values).nanmean(dim=0) if key == "iou" else torch.stack(values).mean(dim=0) for key, values in measures.items()}
    return ADV2Record(target, success, probability, **means)


def rts_class_loss(saliency_net: nn.Module, x_adv: Tensor, target: Tensor) -> Tensor:
    """``(B,)``: the cross-entropy of the RTS masking network's class head (``RTSNet.class_logits``) at ``x_adv`` to ``target``."""
    dtype = next(saliency_net.parameters()).dtype
    return F.cross_entropy(saliency_net.class_logits(x_adv.to(dtype)).to(x_adv.dtype), target, reduction="none")


def adv2_loss(
    model: nn.Module,
    x_adv: Tensor,
    target: Tensor,
    maps: Mapping[str, DifferentiableMap],
    target_maps: Mapping[str, Tensor],
    weight: float,
    *,
    rts_net: nn.Module | None = None,
    rts_class_weight: float = 0.1,
) -> Tensor:
    """``(B,)``: ADV2's loss at one iteration, ``CE(f(x'), t')`` plus, in a joint stage (``weight > 0``),
    ``weight * sum_g mean((g(x') - m_g)^2) + rts_class_weight * rts_class_loss(rts_net, x', t')``.

    The last term is the ADV2 authors' for RTS (their coefficient 0.1, not scaled by ``weight``);
    ``rts_net=None`` leaves it out. ``maps``: per name the differentiable map, ``target_maps`` its ``(B, h, w)`` target.
    """
    value = F.cross_entropy(model(x_adv), target, reduction="none")
    if weight > 0:
        for name, attacked in maps.items():
            value = value + weight * (attacked(x_adv) - target_maps[name]).pow(2).flatten(1).mean(dim=1)
        if rts_net is not None:
            value = value + rts_class_weight * rts_class_loss(rts_net, x_adv, target)
    return value


@renamed_keywords(interpreter="method", interpreter_options="method_options")
def adv2(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    target: Tensor | None = None,
    method: str | Sequence[str] = "cam",
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    target_map: Tensor | Mapping[str, Tensor] | None = None,
    eps: float = 0.031,
    schedule: ADV2Schedule | None = None,
    step_size: float = 1 / 255,
    norm: str = "linf",
    surrogate: str = "auto",
    beta: float = 1.0,
    rts_class_weight: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, ADV2Record]:
    """Targeted attack on ``f`` whose interpretation of ``t'`` at ``x'`` imitates a target map (default: the benign map).

    Minimises ``CE(f(x'), t') + c_i sum_g mean((g(x', t') - m_g)^2)`` over the ``eps`` ball by
    signed steps from ``x``, ``g`` each interpreter's map on its own grid as the authors compare it
    (``interpreters.interpreter_map``: GRAD and CAM min-max normalised, MASK and RTS raw) and ``c_i``
    the ``schedule``'s weight at iteration ``i`` (the authors' per interpreter, :data:`ADV2_SCHEDULES`).
    Against RTS the joint stages add, as the authors do, ``rts_class_weight`` times the cross-entropy
    of the masking network's class head to ``t'`` (``adv2_loss``). Gradient maps are differentiated
    through a surrogate (``surrogate="auto"``: the authors' smooth ReLU derivative for ``grad``,
    none for CAM and RTS, softplus ``beta`` for the other maps; MASK's optimisation is tracked
    across iterations: see ``interpreters.differentiable_map``). Several interpreters at
    once is the adaptive attack on an ensemble of interpreters.

    Args:
        model: classifier on pixel-space images; run in eval mode and fp32, restored afterwards.
        x: benign images ``(B, C, H, W)`` in [0, 1]; y: their labels ``(B,)``.
        target: target labels ``t'`` ``(B,)``; default a uniform other class drawn with ``generator``.
        method: the interpreter, ``"grad"``, ``"cam"``, ``"mask"``, ``"rts"``, any ``get_attribution`` name, or a
            list of them (formerly ``interpreter``, still accepted with a ``FutureWarning``).
        method_options: options per method name, e.g. ``{"rts": {"saliency_net": net}}`` (formerly ``interpreter_options``).
        target_map: the map to imitate, ``(B, h, w)`` in [0, 1] on the interpreter's grid (a dict
            per name for several); default the benign map of ``y`` at ``x``. Any map works, e.g.
            another image's or a shape.
        eps: L-inf (or L2) budget in pixel units (0.031 in the paper, ImageNet).
        schedule: default ``adv2_schedule(method)``; ``.prediction_only()`` gives the PGD baseline.
        step_size: step length in the ball's norm (1/255).
        norm: ``"linf"`` or ``"l2"``.
        surrogate, beta: the stand-in for ReLU and its sharpness, see ``attacks.explanation.maps.surrogate``.
        rts_class_weight: weight of RTS's class-head cross-entropy (the authors' 0.1; 0 leaves it out).
        generator: random source for the target labels.

    Returns:
        ``(x_adv, record)``: the adversarial images ``(B, C, H, W)`` (the final iterate, or the kept
        one under ``keep_confidence``) and an :class:`ADV2Record`.

    Cost: ``schedule.steps`` forward + backward passes, plus per joint step each interpreter's
    map with its graph (a double backward for gradient maps, ``mask_inner_steps + 1`` MASK steps).

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = adv2(net, x, y, eps=0.2, method="cam", schedule=ADV2Schedule(2, ((5.0, 10.0, 2),)), step_size=0.01)
        >>> record.success.shape, record.iou.shape  # per image
        (torch.Size([4]), torch.Size([4]))
    """
    x, y, target = check_batch(model, x, {"y": y, "target": target}, required=("y",))
    names = _names(method)
    options = options_per_interpreter(names, method_options)
    check_nonnegative(step_size, "step_size")
    check_nonnegative(rts_class_weight, "rts_class_weight")
    schedule = adv2_schedule(method) if schedule is None else schedule
    threat = threat_model(norm, eps)
    x = x.detach()
    with evaluation_mode(model):
        if target is None:
            with torch.no_grad():
                target = random_targets(y, model(x[:1]).shape[1], generator=generator)
        t_prime = target
        if target_map is None:
            wanted = {name: interpreter_map(model, x, y, name, options[name]) for name in names}
        elif isinstance(target_map, Tensor):
            if len(names) > 1:
                raise ValueError("with several methods, give target_map as a dict {method name: (B, h, w) map}")
            wanted = {names[0]: target_map.to(x.device, x.dtype)}
        else:
            wanted = {name: target_map[name].to(x.device, x.dtype) for name in names}
        attacked = {name: differentiable_map(model, t_prime, name, options[name], surrogate_kind=surrogate, beta=beta) for name in names}
        weights = schedule.weights()
        rts = [name for name in names if attribution_record(name).name == "rts"]
        rts_net = saliency_network(options[rts[0]]["saliency_net"]).to(x.device) if rts and rts_class_weight > 0 else None
        if rts_net is not None and not hasattr(rts_net, "class_logits"):
            raise ValueError("ADV2's RTS term reads the masking network's class head: give an RTSNet, or rts_class_weight=0")

        def objective(x_adv: Tensor, step: int) -> Tensor:
            return -adv2_loss(model, x_adv, t_prime, attacked, wanted, weights[step], rts_net=rts_net, rts_class_weight=rts_class_weight)

        best = KeepBest()

        def keep(x_adv: Tensor, step: int) -> None:
            if schedule.keep_confidence is None or step <= schedule.prediction_steps or step % schedule.check_every:
                return
            record = score_maps(model, x_adv, t_prime, wanted, options)
            confident = record.confidence > schedule.keep_confidence
            best.offer(x_adv, torch.where(confident, -record.interpretation_loss, torch.full_like(record.confidence, -math.inf)))

        x_adv = projected_gradient_ascent(
            objective, x, threat, steps=schedule.steps, step_size=step_size, random_start=False, on_iterate=keep
        )
        if best.x is not None:
            x_adv = torch.where(per_example(best.score > -math.inf, x_adv), best.x, x_adv)
        record = score_maps(model, x_adv, t_prime, wanted, options)
    return x_adv, record
