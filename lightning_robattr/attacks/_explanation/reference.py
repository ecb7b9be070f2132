"""``attribution_reference``: a parameter-free ensemble of map attacks, the reference strength for attribution robustness.

In the spirit of AutoAttack ("Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks"): no step size or surrogate sharpness to tune, several attacks,
and per image the worst outcome any of them found.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_choice
from ...attributions import attribution_record, get_attribution
from ...metrics.functional import constant_maps
from ...models import evaluation_mode, flushed_denormals
from .._budget import Budget, parse_eps
from .._classification.apgd import StepSizeSchedule, momentum_step
from .._threat_models import ThreatModel, per_example, threat_model
from .attribution_attack import LabelMaps, MapObjective
from .maps import evaluated_maps
from .objectives import dissimilarity, resolve_k
from .scoring import HIGHER_IS_ROBUST, SIMILARITY_METRICS, MapScoring, check_metrics, map_similarity

REFERENCE_BUDGETS = ("fast", "standard")
SWEEP_BETAS = (30.0, 100.0)
"""Softplus sharpnesses the standard budget tries for gradient maps of ReLU nets."""
KENDALL_SCREEN = 0.05


class ReferencePlan(NamedTuple):
    """One budget of the reference: the surrogate sweep, then one run per objective at each image's best surrogate.

    Attributes:
        betas: softplus sharpnesses tried by the ``topk`` sweep (gradient maps of ReLU nets only).
        sweep_steps: APGD steps of each sweep run (from the clean image).
        objectives: the later runs' objectives: ``topk`` continues from the sweep's best image, the others
            restart from a uniform random point of the ball.
        steps: APGD steps of each later run.
    """

    betas: tuple[float, ...]
    sweep_steps: int
    objectives: tuple[str, ...]
    steps: tuple[int, ...]


PLANS = {
    "fast": ReferencePlan(betas=(30.0,), sweep_steps=10, objectives=("rank",), steps=(10,)),
    "standard": ReferencePlan(betas=SWEEP_BETAS, sweep_steps=8, objectives=("topk", "rank", "mass_center"), steps=(24, 12, 8)),
}


class Smoothing(NamedTuple):
    """How a component differentiates the map: ``kind`` of :func:`surrogate` (``"softplus"``, ``"relu_derivative"``,
    ``"none"``: the net itself) and the softplus sharpness ``beta``."""

    kind: str
    beta: float | None

    @property
    def name(self) -> str:
        return f"beta{self.beta:g}" if self.kind == "softplus" else {"none": "net", "relu_derivative": "relu_derivative"}[self.kind]


class AttributionReferenceRecord(NamedTuple):
    """Per metric, each image's worst score under the reference, the image that reached it and the component that found it.

    Attributes:
        scores: ``{metric: (B,)}`` the worst value over every judged iterate that kept the clean
            label (the clean image's own value, 1 or 0, where none did); NaN where the clean map is degenerate.
        x_adv: ``{metric: (B, C, H, W)}`` the image of that value (the clean image where no iterate beat it).
        found_by: ``{metric: (name, ...)}`` per image the component that found it (``"clean"``: none did);
            names read ``<objective>/<smoothing>``, e.g. ``"topk/beta30"`` (``net``: the net itself).
        label_kept: ``(B,)`` whether some judged iterate kept the clean label (images with degenerate clean maps are not attacked).
        degenerate: ``(B,)`` whether the clean map is constant (no metric is defined on it).
        components: the components run, in order.
    """

    scores: dict[str, Tensor]
    x_adv: dict[str, Tensor]
    found_by: dict[str, tuple[str, ...]]
    label_kept: Tensor
    degenerate: Tensor
    components: tuple[str, ...]


def attribution_reference(
    model: nn.Module,
    x: Tensor,
    *,
    method: str,
    eps: Budget,
    norm: str = "linf",
    k: int | float = 0.1,
    metrics: Sequence[str] | None = None,
    method_options: Mapping[str, Any] | None = None,
    budget: str = "standard",
    scoring: MapScoring | None = None,
    generator: torch.Generator | None = None,
) -> AttributionReferenceRecord:
    """The reference-strength attack on ``method``'s maps: per metric, the worst map each image can be driven to within ``eps``.

    Every component is an APGD-style ascent on a map objective (step size ``2 eps`` halved per image
    at APGD's checkpoints when the objective stalls, momentum 0.75, return to the best iterate),
    differentiated on a smooth stand-in of the net. The ``standard`` budget:

    1. a ``topk`` sweep over softplus sharpnesses ``SWEEP_BETAS`` (``grad`` also tries its ReLU-derivative
       surrogate; CAM-family maps, RTS, Repr and nets without ``nn.ReLU`` use the net itself), which
       picks per image the sharpness whose run moved the top-k cells most;
    2. at that sharpness, a ``topk`` run continued from the sweep's best image (24 steps), then a ``rank`` run
       (lowers rank correlations, 12 steps) and a ``mass_center`` run (8 steps), each restarted from a
       uniform random point of the ball.

    ``fast`` (for per-epoch use) runs ``topk`` (10 steps) and a restarted ``rank`` (10 steps) at ``beta=30`` only. Every iterate of every
    component is judged on the original model: with the clean label kept, its map is scored by every
    metric and kept per image and metric where it is the worst so far. The result is an upper bound
    on how robust the maps are that no single fixed attack of the package beats on average.

    Args:
        model: classifier on pixel-space images; run in eval mode and fp32, restored afterwards.
        x: clean images ``(B, C, H, W)`` in [0, 1], attacked with their predicted label kept.
        method: an attribution name of ``attributions.get_attribution``.
        eps: budget in pixel units (``"8/255"`` accepted).
        norm: ``"linf"`` or ``"l2"``.
        k: the top-k size of ``topk_intersection`` and of the ``topk`` objective (an int, or a fraction of the map's cells).
        metrics: the metrics judged, from ``SIMILARITY_METRICS`` (default all five).
        method_options: options bound to the attribution (e.g. ``{"steps": 20}`` for IG).
        budget: ``"standard"`` (60 APGD steps and 64 judged iterates per image, about 9x the cost of a
            10-step ``attribution_attack``; ``scripts/bench.py reference``) or ``"fast"`` (20 steps, about 3x).
        scoring: how maps are compared (``callbacks.MapScoring``: top-k mode, integer mass centres, noise of stochastic maps).
        generator: random source of the restarts.

    Returns:
        An :class:`AttributionReferenceRecord`.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x = Small().eval(), torch.rand(2, 1, 28, 28)
        >>> record = attribution_reference(net, x, method="saliency", eps=0.1, metrics=["topk_intersection"], budget="fast")
        >>> record.scores["topk_intersection"].shape, record.x_adv["topk_intersection"].shape
        (torch.Size([2]), torch.Size([2, 1, 28, 28]))
    """
    (x,) = check_batch(model, x)
    check_choice(budget, REFERENCE_BUDGETS, name="budget")
    plan, metrics = PLANS[budget], check_metrics(SIMILARITY_METRICS if metrics is None else metrics)
    scoring = scoring or MapScoring()
    threat = threat_model(norm, parse_eps(eps))
    explain = get_attribution(method, **(method_options or {}))
    x = x.detach()
    with evaluation_mode(model), flushed_denormals():
        with torch.no_grad():
            label = model(x).argmax(dim=1)

        def maps_of(images: Tensor, labels: Tensor) -> Tensor:
            return evaluated_maps(model, images, labels, method, method_options, noise=scoring.map_noise)

        clean_maps = maps_of(x, label)
        judge = MetricJudge(model, x, label, clean_maps, maps_of, metrics, resolve_k(k, clean_maps[0].numel()), scoring)
        attack = ComponentRunner(model, x, label, clean_maps, k, explain, method, threat, judge, generator)
        smoothings = smoothings_of(model, method, plan.betas)
        scored = (~judge.degenerate).nonzero().flatten()  # no metric is defined on a constant clean map
        if len(scored):
            sweep = [attack.run("topk", s, plan.sweep_steps, scored, x[scored]) for s in smoothings]
            choice = torch.stack([best for best, _ in sweep]).argmax(dim=0)
            swept_best = torch.stack([x_best for _, x_best in sweep])[choice, torch.arange(len(scored))]
            for objective, steps in zip(plan.objectives, plan.steps):
                for i, smoothing in enumerate(smoothings):
                    rows = (choice == i).nonzero().flatten()
                    if len(rows):
                        start = swept_best[rows] if objective == "topk" else attack.random_start(scored[rows])
                        attack.run(objective, smoothing, steps, scored[rows], start)
    return judge.record(attack.components)


def smoothings_of(model: nn.Module, method: str, betas: Sequence[float]) -> list[Smoothing]:
    """The smooth stand-ins a sweep tries: the net itself for first-order maps and for nets without ``nn.ReLU``
    (nothing to smooth), else softplus at each of ``betas`` (after ``grad``'s own ReLU-derivative surrogate)."""
    kind = attribution_record(method).surrogate
    if kind == "none" or not any(isinstance(m, (nn.ReLU, nn.LeakyReLU)) for m in model.modules()):
        return [Smoothing("none", None)]
    own = [Smoothing("relu_derivative", 1.0)] if kind == "relu_derivative" else []
    return own + [Smoothing("softplus", beta) for beta in betas]


class MetricJudge:
    """Judges iterates on the original model and keeps, per metric and image, the worst score that kept the label."""

    def __init__(
        self, model: nn.Module, x: Tensor, label: Tensor, clean_maps: Tensor, maps_of: Callable[[Tensor, Tensor], Tensor],
        metrics: Sequence[str], k: int, scoring: MapScoring,
    ) -> None:
        self.model, self.label, self.clean_maps, self.maps_of = model, label, clean_maps, maps_of
        self.k, self.scoring = k, scoring
        identity = {m: map_similarity(m, clean_maps, clean_maps, k=k, scoring=scoring) for m in metrics}
        self.scores = {m: value.clone() for m, value in identity.items()}
        self.x_adv = {m: x.clone() for m in metrics}
        self.found_by = {m: torch.full((len(x),), -1, dtype=torch.long, device=x.device) for m in metrics}
        self.degenerate = constant_maps(clean_maps)
        self.label_kept = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        self.kendall_screen = torch.ones(len(x), dtype=clean_maps.dtype, device=x.device)

    def __call__(self, x_adv: Tensor, rows: Tensor, component: int) -> tuple[Tensor, Tensor]:
        """Judge ``x_adv (b, C, H, W)`` of images ``rows (b,)``; returns its maps ``(b, h, w)`` and whether it kept the label ``(b,)``.

        Kendall's tau (the costliest metric) is computed only where the iterate's Spearman correlation is within
        ``KENDALL_SCREEN`` of the Spearman correlation of the image holding the lowest tau so far: the two
        rank correlations move together, and the screen halves the cost of judging.
        """
        label = self.label[rows]
        with torch.no_grad():
            kept = self.model(x_adv).argmax(dim=1) == label
        maps = self.maps_of(x_adv, label)
        self.label_kept[rows] |= kept
        clean = self.clean_maps[rows]
        ranked = {"spearman", "kendall_tau"} & set(self.scores)
        rho = map_similarity("spearman", clean, maps, k=self.k, scoring=self.scoring) if ranked else None
        for metric, best in self.scores.items():
            if metric == "spearman" and rho is not None:
                value = rho
            elif metric == "kendall_tau" and rho is not None:
                screened = kept & (rho < self.kendall_screen[rows] + KENDALL_SCREEN)
                value = torch.full_like(rho, float("nan"))
                if screened.any():
                    value[screened] = map_similarity(metric, clean[screened], maps[screened], k=self.k, scoring=self.scoring)
            else:
                value = map_similarity(metric, clean, maps, k=self.k, scoring=self.scoring)
            worse = kept & (value < best[rows] if HIGHER_IS_ROBUST[metric] else value > best[rows])
            take = rows[worse]
            best[take] = value[worse]
            self.x_adv[metric][take] = x_adv[worse]
            self.found_by[metric][take] = component
            if metric == "kendall_tau" and rho is not None:
                self.kendall_screen[take] = rho[worse]
        return maps, kept

    def record(self, components: Sequence[str]) -> AttributionReferenceRecord:
        names = ("clean", *components)
        return AttributionReferenceRecord(
            scores=self.scores, x_adv=self.x_adv,
            found_by={m: tuple(names[i + 1] for i in found.tolist()) for m, found in self.found_by.items()},
            label_kept=self.label_kept, degenerate=self.degenerate, components=tuple(components),
        )


class ComponentRunner:
    """Runs the reference's components (map-APGD runs) on rows of the batch, every iterate judged by a :class:`MetricJudge`."""

    def __init__(
        self, model: nn.Module, x: Tensor, label: Tensor, clean_maps: Tensor, k: int | float, explain: Callable[..., Tensor],
        method: str, threat: ThreatModel, judge: MetricJudge, generator: torch.Generator | None,
    ) -> None:
        self.model, self.x, self.label, self.clean_maps, self.k = model, x, label, clean_maps, k
        self.explain, self.method = explain, method
        self.threat, self.judge, self.generator = threat, judge, generator
        self.components: list[str] = []

    def random_start(self, rows: Tensor) -> Tensor:
        """A uniform random point of the ball around each image of ``rows (b,)`` (a random restart)."""
        return self.threat.random_start(self.x[rows], self.generator)

    def run(self, objective: str, smoothing: Smoothing, steps: int, rows: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
        """Attack images ``rows (b,)`` with map objective ``objective`` (``topk``, ``rank``, ``mass_center``) for ``steps``
        from ``start (b, C, H, W)``; returns each one's best measured ``D`` ``(b,)`` (``-inf`` where no iterate kept the
        label) and its image."""
        name = f"{objective}/{smoothing.name}"
        if name not in self.components:
            self.components.append(name)
        component = self.components.index(name)
        x, label = self.x[rows], self.label[rows]
        maps = LabelMaps(self.model, self.explain, label, "sum1")
        d = dissimilarity(
            objective, self.clean_maps[rows], None, k=self.k, region=None, target_map=None, normalize="sum1", map_weight=0.0,
            output_weight=0.0,
        )
        ascent = MapObjective(maps, d, method=self.method, beta=smoothing.beta, reads_logits=False, kind=smoothing.kind)

        def measure(x_adv: Tensor) -> Tensor:
            judged, kept = self.judge(x_adv, rows, component)
            return d(judged, None).masked_fill(~kept, float("-inf"))

        return map_apgd(ascent, measure, x, self.threat, steps=steps, start=start)


def map_apgd(
    ascent: Callable[[Tensor, int], Tensor], measure: Callable[[Tensor], Tensor], x: Tensor, threat: ThreatModel, *,
    steps: int, start: Tensor, momentum: float = 0.75, rho: float = 0.75,
) -> tuple[Tensor, Tensor]:
    """APGD's momentum step and step-size schedule (``apgd.StepSizeSchedule``) on a map objective; returns the
    best measured value per image ``(b,)`` and its image.

    ``ascent(x_adv, step)`` is the differentiable objective on the surrogate; ``measure(x_adv)`` judges
    an iterate on the original model (``-inf`` where the label was lost) and drives the schedule.
    """

    def gradient(x_adv: Tensor) -> Tensor:
        x_adv = x_adv.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(ascent(x_adv, 0).sum(), x_adv, allow_unused=True)
        return torch.zeros_like(x_adv) if grad is None else grad  # a map that does not depend on the image

    x_cur, x_prev = start.clone(), start.clone()
    current, grad = measure(x_cur), gradient(x_cur)
    x_best, best, grad_best = x_cur.clone(), current.clone(), grad.clone()
    schedule = StepSizeSchedule(steps, 2 * torch.as_tensor(threat.eps, dtype=x.dtype, device=x.device).expand(len(x)), best, rho)
    for i in range(steps):
        x_next = momentum_step(threat, x_cur, x_prev, grad, x, step_size=schedule.step_size, step=i, momentum=momentum)
        x_prev, value = x_cur, measure(x_next)
        schedule.record(value > current)
        x_cur, current = x_next, value
        better = value > best
        x_best, best = torch.where(per_example(better, x), x_cur, x_best), torch.where(better, value, best)
        if i + 1 < steps:
            grad = gradient(x_cur)
            grad_best = torch.where(per_example(better, x), grad, grad_best)
        halve = schedule.halve(i, best)
        if halve is not None:
            x_cur, grad = torch.where(per_example(halve, x), x_best, x_cur), torch.where(per_example(halve, x), grad_best, grad)
    return best, x_best
