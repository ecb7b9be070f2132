"""Interpretability sneaking attack, ISA ("Proper Network Interpretability Helps Adversarial Robustness", problem 6)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_choice, check_nonnegative, check_positive_int
from ...attributions import attribution_record, get_attribution
from ...metrics.functional import interpretation_discrepancy, normalized_discrepancy
from ...models import evaluation_mode
from .._ascent import projected_gradient_ascent
from .._attack_config import AttackConfig, resolve_config
from .._classification_losses import cw_margin
from .._targets import random_targets
from .._threat_models import LinfBall, Radius, per_example
from .maps import check_beta, surrogate

CLASS_SETS = ("one", "two", "all")
FIRST_POINTS = ("targeted", "isa")


class ISAResult(NamedTuple):
    """The record of ISA at a ladder of budgets (``isa`` returns ``(x_adv (P, B, C, H, W), ISAResult)``). Point 0 is the plain targeted attack at ``eps*`` (ISA there with ``first_point="isa"``); point ``j >= 1``
    is ISA at ``budget_factors[j-1] * eps*``. Values are measured on the original model.

    Attributes:
        target: ``(B,)`` the target labels ``t'``.
        eps_star: ``(B,)`` the least L-inf budget at which the targeted attack succeeded (1 if it never did).
        budgets: ``(P, B)`` the nominal budget of every point, pixel units.
        success: ``(P, B)`` whether ``t'`` is the strict top prediction at ``x_adv``.
        discrepancy: ``(P, B)`` the attack's discrepancy ``D`` (e.g. the 2-class l1 ``D_{2,l1}``).
        nds: ``(P, B)`` normalised discrepancy score; a point that fails or scores worse than the
            previous successful point takes that attack, so NDS never rises after a success.
        nsl: ``(B,)`` normalised slope ``[(NDS_0 - NDS_last) / NDS_0] / [(eps_last - eps*) / eps*]``;
            NaN where the first or last point failed or ``NDS_0 = 0``.
    """

    target: Tensor
    eps_star: Tensor
    budgets: Tensor
    success: Tensor
    discrepancy: Tensor
    nds: Tensor
    nsl: Tensor


@dataclass(frozen=True)
class ISAConfig(AttackConfig):
    """The hyperparameters of :func:`isa` (the interpreter ``method``, its options and the targets are call arguments).

    Attributes:
        classes: the class set of the discrepancy: ``"one"``, ``"two"`` or ``"all"``.
        p: the discrepancy's norm, 1 or 2.
        tau: margin tolerance (0.1), >= 0.
        budget_factors: increasing factors ``rho > 0`` of the ISA points, the last > 1 (a list is stored as a tuple).
        first_point: the attack at ``eps*`` that NSL starts from: ``"targeted"`` (the plain
            targeted attack, the authors' code, which reproduces Table 1) or ``"isa"`` (ISA's least
            discrepancy at ``eps*``, the point as the paper's text defines it).
        steps: gradient steps per attack (10).
        search_rounds: rounds of each search (10).
        eps_init: starting budget of the ``eps*`` search, in (0, 1] pixel units (0.05).
        weight_init: starting discrepancy weight of the weight searches, in (0, 1] (5e-5).
        beta: softplus sharpness of the surrogate for gradient maps; ``None`` uses the model.
    """

    classes: Literal["one", "two", "all"] = "two"
    p: Literal[1, 2] = 1
    tau: float = 0.1
    budget_factors: tuple[float, ...] = (1.0, 1.2, 1.4, 1.6)
    first_point: Literal["targeted", "isa"] = "targeted"
    steps: int = 10
    search_rounds: int = 10
    eps_init: float = 0.05
    weight_init: float = 5e-5
    beta: float | None = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.budget_factors, list):  # stored as a tuple, so equal configs compare equal
            object.__setattr__(self, "budget_factors", tuple(self.budget_factors))
        super().__post_init__()

    def check(self) -> None:
        check_choice(self.first_point, FIRST_POINTS, name="first_point")
        if self.classes not in CLASS_SETS:
            raise ValueError(f"classes must be one of {CLASS_SETS}, got {self.classes!r}")
        if self.p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {self.p!r}")
        check_nonnegative(self.tau, "tau")
        check_positive_int(self.steps, "steps")
        check_positive_int(self.search_rounds, "search_rounds")
        factors = self.budget_factors
        if (
            isinstance(factors, (str, bytes)) or not factors or any(isinstance(f, bool) or not isinstance(f, (int, float)) for f in factors)
            or min(factors) <= 0 or any(b <= a for a, b in zip(factors, factors[1:])) or factors[-1] <= 1
        ):
            raise ValueError(f"budget_factors must be positive and increasing with the last > 1, got {factors!r}")
        for name in ("eps_init", "weight_init"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1] (its search runs in [0, 1]), got {value!r}")
        check_beta(self.beta)


def isa(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    method: str = "cam",
    target: Tensor | None = None,
    config: ISAConfig | None = None,
    method_options: Mapping[str, Any] | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[Tensor, ISAResult]:
    """Targeted attacks that fool the classifier while keeping the interpretation close, of least discrepancy.

    Minimises ``margin(x') + gamma D(x, x')`` over ``||x' - x||_inf <= eps``, with the CW margin
    ``max(max_{j != t'} f_j(x') - f_t'(x'), -tau)`` and the discrepancy
    ``D = mean_{i in C} ||L(x, i) - L(x', i)||_p`` (squared for ``p = 2``) over the class set
    ``C``: ``{t}``, ``{t, t'}`` or all classes (for ``repr``, the ``K`` channels of the
    class-free map). ``gamma = 1/lambda`` weights the discrepancy, as in the authors' code.

    Procedure, per image and batched: every attack starts at ``x`` and takes ``steps`` steps
    ``x' <- x' - 0.2 eps clip(1000 grad, -1, 1)``, clipped to the ball and [0, 1].
    (1) ``eps*`` by a bisection/doubling search of ``search_rounds`` rounds for the least budget
    at which the plain targeted attack (``gamma = 0``) succeeds, from ``eps_init``;
    (2) for each factor ``rho``, ``search_rounds`` rounds of bisection/doubling on ``gamma``
    from ``weight_init`` for the largest weight that still succeeds at ``rho * eps*``, i.e. the
    least discrepancy; (3) a running minimum of NDS along the points (a point that succeeds
    worse than the previous one reuses the previous attack, which lies in its ball too).

    The maps of gradient methods (IG, saliency) are differentiated on the softplus surrogate of
    the model (``beta``), the margin on the model itself; all results are measured on the model.
    Proposition 1 of the paper: for a map whose cells sum to the logit (``cam`` with
    ``method_options={"scale": "sum_to_logit"}`` on a bias-free head), every success has
    ``D_{2,l1} >= (f_t(x) - f_t'(x)) / 2``; the default CAM scale (the authors' code) multiplies ``D`` by ``h*w``.

    Args:
        model: classifier on pixel-space images; run in eval mode and fp32, restored afterwards.
        x: clean images ``(B, C, H, W)`` in [0, 1], correctly classified.
        y: their labels ``t`` ``(B,)``.
        method: the interpreter ``L``, an ``attributions.get_attribution`` name (``cam``, ``gradcampp``, ``ig``, ``repr``, ...).
        target: target labels ``(B,)``; default a uniform other class drawn with ``generator``.
        config: the hyperparameters (:class:`ISAConfig`, default ``ISAConfig()``: 2-class l1, factors 1, 1.2, 1.4, 1.6).
        method_options: options bound to the interpreter (e.g. ``{"scale": "sum_to_logit"}`` for ``cam``, ``{"steps": 10}`` for ``ig``).
        generator: random source for the target labels.
        **options: fields of :class:`ISAConfig` replaced for this call (``classes="all", p=2``).

    Returns:
        ``(x_adv, record)``: the adversarial images of every point ``(P, B, C, H, W)`` and an ``ISAResult``.

    Cost: about ``(1 + len(budget_factors)) * (search_rounds + 1) * steps`` gradient steps per
    image, each a forward and backward pass plus the maps of ``|C|`` classes.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, result = isa(net, x, y, method="cam", classes="two", p=1, steps=5)
        >>> x_adv.shape[1:], result.success.shape[1:]  # one adversarial batch per budget factor
        (torch.Size([4, 1, 28, 28]), torch.Size([4]))
    """
    x, y, target = check_batch(model, x, {"y": y, "target": target}, required=("y",))
    config = resolve_config(ISAConfig, config, options)
    explain, p = get_attribution(method, **(method_options or {})), config.p
    x = x.detach()
    with evaluation_mode(model):
        with torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        t_prime = random_targets(y, num_classes, generator=generator) if target is None else target
        class_list = {"one": [y], "two": [y, t_prime], "all": [torch.full_like(y, c) for c in range(num_classes)]}[config.classes]
        maps = ClassSetMaps(model, explain, method, class_list)
        sneak = Sneak(x, t_prime, maps, beta=config.beta, p=p, tau=config.tau, steps=config.steps)
        clean = maps(x)
        rounds = config.search_rounds
        eps_star = _search(lambda eps: sneak.fooled(sneak(eps, None)), x.new_full(y.shape, config.eps_init), rounds, largest=False)
        budgets = torch.stack([eps_star] + [(rho * eps_star).clamp(max=1.0) for rho in config.budget_factors])

        def least_discrepancy(eps: Tensor) -> Tensor:
            """ISA at ``eps (B,)``: the attack with the largest discrepancy weight that still succeeds."""
            weight = _search(lambda w: sneak.fooled(sneak(eps, w)), x.new_full(y.shape, config.weight_init), rounds, largest=True)
            return sneak(eps, weight)

        points = [sneak(eps_star, None) if config.first_point == "targeted" else least_discrepancy(eps_star)]
        points += [least_discrepancy(eps) for eps in budgets[1:]]
        adv_maps = [maps(point) for point in points]
        x_adv, success, values, nds = _running_minimum(
            torch.stack(points),
            torch.stack([sneak.fooled(point) for point in points]),
            torch.stack([sneak.discrepancy(clean, adv).detach() for adv in adv_maps]),
            torch.stack([normalized_discrepancy(clean, adv, p=p).detach() for adv in adv_maps]),
        )
    slope = (nds[0] - nds[-1]) / nds[0] / ((budgets[-1] - budgets[0]) / budgets[0])
    valid = success[0] & success[-1] & (nds[0] > 0) & (budgets[-1] > budgets[0])
    nsl = torch.where(valid, slope, torch.full_like(slope, float("nan")))
    return x_adv, ISAResult(t_prime, eps_star, budgets, success, values, nds, nsl)


class ClassSetMaps:
    """``(B, N, rows, cols)``: the maps of the class set ``class_list`` (one batched call), or the Repr channels."""

    def __init__(self, model: nn.Module, explain: Callable[..., Tensor], method: str, class_list: list[Tensor]) -> None:
        self.model, self.explain, self.method, self.class_list = model, explain, method, class_list

    def __call__(self, x_in: Tensor, create_graph: bool = False) -> Tensor:
        if not attribution_record(self.method).per_class:
            return self.explain(self.model, x_in, None, create_graph=create_graph)
        n = len(self.class_list)
        maps = self.explain(self.model, x_in.repeat(n, 1, 1, 1), torch.cat(self.class_list), create_graph=create_graph)
        return maps.reshape(n, x_in.shape[0], -1, maps.shape[-1]).transpose(0, 1)


class SneakingBall(LinfBall):
    """The L-inf ball with per-image budgets and the authors' sign-like step ``step_size * clip(1000 grad, -1, 1)``
    (linear for tiny gradients)."""

    def step(self, grad: Tensor, step_size: Radius) -> Tensor:
        return per_example(step_size, grad) * (1000 * grad).clamp(-1, 1)


class Sneak:
    """One ISA attack: ``sneak(eps (B,), weight (B,) | None)`` runs ``steps`` descent steps on
    ``max(margin, -tau) + weight * D`` from ``x`` with step ``0.2 eps`` in ``SneakingBall(eps)``.

    The margin is the CW margin towards ``t_prime`` on the model; ``D``, the discrepancy of the
    class-set maps to the clean ones, is differentiated on the surrogate (``beta``) for gradient maps.
    """

    def __init__(self, x: Tensor, t_prime: Tensor, maps: ClassSetMaps, *, beta: float | None, p: int, tau: float, steps: int) -> None:
        self.x, self.t_prime, self.maps, self.beta, self.p, self.tau, self.steps = x, t_prime, maps, beta, p, tau, steps
        with surrogate(maps.model, maps.method, beta):
            self.smooth_clean = maps(x).detach()

    def discrepancy(self, clean: Tensor, adv: Tensor) -> Tensor:
        """``D (B,)``: mean over the class set of ``||clean - adv||_p`` (squared for ``p = 2``)."""
        return interpretation_discrepancy(clean, adv, classes="all", p=self.p, squared=self.p == 2)

    def fooled(self, x_adv: Tensor) -> Tensor:
        """``(B,)`` bool: ``t_prime`` is the strict top prediction at ``x_adv``."""
        with torch.no_grad():
            return cw_margin(self.maps.model(x_adv), self.t_prime) < 0

    def loss(self, x_adv: Tensor, weight: Tensor | None) -> Tensor:
        """``max(margin, -tau) + weight * D``: ``(B,)`` to minimise."""
        loss = cw_margin(self.maps.model(x_adv), self.t_prime).clamp(min=-self.tau)
        if weight is None:
            return loss
        with surrogate(self.maps.model, self.maps.method, self.beta):
            return loss + weight * self.discrepancy(self.smooth_clean, self.maps(x_adv, create_graph=True))

    def __call__(self, eps: Tensor, weight: Tensor | None) -> Tensor:
        return projected_gradient_ascent(
            lambda x_adv, _: -self.loss(x_adv, weight), self.x, SneakingBall(eps), steps=self.steps, step_size=0.2 * eps,
            random_start=False,
        )


def _search(succeeds: Callable[[Tensor], Tensor], value: Tensor, rounds: int, *, largest: bool) -> Tensor:
    """Per-image doubling/bisection in [0, 1] from ``value (B,)``: the least value at which ``succeeds``
    (``largest=False``: halve on success, else double) or the largest one (``largest=True``: 0 if none)."""
    lo, hi = torch.zeros_like(value), torch.ones_like(value)
    for _ in range(rounds):
        ok = succeeds(value)
        above = ok if largest else ~ok  # the answer lies above ``value``
        lo, hi = torch.where(above, value, lo), torch.where(above, hi, value)
        mid = (lo + hi) / 2
        value = torch.where(above, torch.minimum(2 * value, mid), mid)
    return lo if largest else hi


def _running_minimum(x_adv: Tensor, success: Tensor, values: Tensor, nds: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Make NDS non-increasing along the points: a point that fails, or has a larger NDS than the
    previous successful point, takes that point's attack (it lies in the larger ball too)."""
    x_adv, success, values, nds = x_adv.clone(), success.clone(), values.clone(), nds.clone()
    for j in range(1, len(x_adv)):
        reuse = success[j - 1] & (~success[j] | (nds[j] > nds[j - 1]))
        x_adv[j][reuse], success[j][reuse] = x_adv[j - 1][reuse], success[j - 1][reuse]
        values[j][reuse], nds[j][reuse] = values[j - 1][reuse], nds[j - 1][reuse]
    return x_adv, success, values, nds
