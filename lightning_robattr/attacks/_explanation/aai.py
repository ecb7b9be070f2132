"""Attack against interpretability, AAI ("Proper Network Interpretability Helps Adversarial Robustness", problem 7)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_choice, check_nonnegative, check_positive_int
from ...attributions import get_attribution
from ...metrics.functional import CHANNEL_RULES, kendall_tau, reduce_channels, topk_indices
from ...models import evaluation_mode
from .._ascent import projected_gradient_ascent
from .._attack_config import AttackConfig, check_step_options, resolve_config
from .._budget import Budget, parse_eps
from .._classification_losses import cw_margin
from .._threat_models import threat_model
from .maps import check_beta, surrogate

MODES = ("filter", "hinge")


class AAIRecord(NamedTuple):
    """Per image, measured on the original model.

    Attributes:
        kendall_tau: ``(B,)`` Kendall tau-b between ``L(x, t)`` and ``L(x', t)`` (higher = more robust).
        label_kept: ``(B,)`` whether ``x'`` is still classified as ``t``; average ``kendall_tau`` over these.
    """

    kendall_tau: Tensor
    label_kept: Tensor


@dataclass(frozen=True)
class AAIConfig(AttackConfig):
    """The hyperparameters of :func:`aai` (the budget ``eps``, the interpreter ``method`` and its options are call arguments).

    Attributes:
        k: top-k size (8 on the 7x7 / 8x8 CAM grid); at most the map's cells, checked on the first call.
        steps: iterations (>= 1; the paper: 200).
        step_size: step length in the ball's norm, pixel units (0.01 for every eps in the authors' code).
        norm: ``"linf"`` or ``"l2"``.
        mode: ``"filter"`` (the authors' code: no label term) or ``"hinge"`` (the paper's problem 7).
        hinge_weight: ``lambda`` of the hinge term (``mode="hinge"``), >= 0.
        random_start: start from a uniform point of the ball.
        channel_rule: how ``reduce_channels`` makes one map of a multi-channel attribution.
        beta: softplus sharpness of the surrogate for gradient maps; ``None`` uses the model.
    """

    k: int = 8
    steps: int = 200
    step_size: float = 0.01
    norm: Literal["linf", "l2"] = "linf"
    mode: Literal["filter", "hinge"] = "filter"
    hinge_weight: float = 10.0
    random_start: bool = True
    channel_rule: Literal["abs_sum", "signed_sum", "l2"] = "signed_sum"
    beta: float | None = 1.0

    def check(self) -> None:
        check_positive_int(self.k, "k")
        check_step_options(self.steps, self.step_size, self.norm)
        if self.step_size is None:
            raise ValueError("step_size must be a finite number >= 0 in pixel units (AAI has no default rule; the paper: 0.01)")
        check_nonnegative(self.hinge_weight, "hinge_weight")
        check_choice(self.mode, MODES, name="mode")
        check_choice(self.channel_rule, CHANNEL_RULES, name="channel_rule")
        check_beta(self.beta)


def aai(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: Budget,
    method: str = "cam",
    config: AAIConfig | None = None,
    method_options: Mapping[str, Any] | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[Tensor, AAIRecord]:
    """Push the true class's map off its top-k cells within ``eps``; report the rank correlation left.

    Maximises ``-sum_{i in TopK(L(x, t))} L(x', t)_i`` by projected signed-gradient steps from a
    uniform random start (the authors' ``aai_topk``), where ``L`` is the raw (unnormalised,
    signed) map of the true class. ``config.mode="filter"`` (their code, the default) has no label
    term: images whose prediction changed are reported in ``label_kept`` and should be left out
    of the mean. ``mode="hinge"`` (the paper's problem 7) also subtracts
    ``hinge_weight * max(max_{j != t} f_j(x') - f_t(x'), 0)``. Gradient maps of ReLU nets are
    differentiated on the softplus surrogate (``config.beta``); the record is measured on the model.

    Args:
        model: classifier on pixel-space images; run in eval mode and fp32, restored afterwards.
        x: clean images ``(B, C, H, W)`` in [0, 1], correctly classified.
        y: true labels ``t`` ``(B,)``.
        eps: budget in pixel units (MNIST 0.05-0.3; CIFAR ``"2/255"``-``"8/255"``).
        method: the interpreter, an ``attributions.get_attribution`` name (``cam``; ``gradcampp_int_repo``,
            the Int code's GradCAM++, and ``ig`` reproduce the paper's tables).
        config: the hyperparameters (:class:`AAIConfig`, default ``AAIConfig()``: k 8, 200 steps of 0.01, filter mode).
        method_options: options bound to the interpreter.
        generator: random source for the start.
        **options: fields of :class:`AAIConfig` replaced for this call (``steps=30``, ``mode="hinge"``).

    Returns:
        ``(x_adv, record)``: the final iterate ``(B, C, H, W)`` and an ``AAIRecord``.

    Cost: ``config.steps`` forward + backward passes (CAM); gradient maps add a double backward per step.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = aai(net, x, y, eps=0.1, steps=2)
        >>> record.kendall_tau.shape, record.label_kept.dtype  # per image; average tau over label_kept
        (torch.Size([4]), torch.bool)
    """
    x, y = check_batch(model, x, {"y": y}, required=("y",))
    config = resolve_config(AAIConfig, config, options)
    threat, explain = threat_model(config.norm, parse_eps(eps)), get_attribution(method, **(method_options or {}))
    x = x.detach()

    def class_map(x_in: Tensor, create_graph: bool = False) -> Tensor:
        return reduce_channels(explain(model, x_in, y, create_graph=create_graph), config.channel_rule)

    with evaluation_mode(model):
        clean = class_map(x)
        cells = clean.flatten(1).shape[1]
        if not 1 <= config.k <= cells:
            raise ValueError(f"k must be in [1, {cells}] (the map's cells), got {config.k}")
        top = topk_indices(clean.flatten(1), config.k)

        def objective(x_adv: Tensor, step: int) -> Tensor:
            with surrogate(model, method, config.beta):
                value = -class_map(x_adv, create_graph=True).flatten(1).gather(1, top).sum(dim=1)
            if config.mode == "hinge":
                value = value - config.hinge_weight * cw_margin(model(x_adv), y).clamp(min=0)
            return value

        x_adv = projected_gradient_ascent(
            objective, x, threat, steps=config.steps, step_size=config.step_size, random_start=config.random_start, generator=generator
        )
        with torch.no_grad():
            kept = model(x_adv).argmax(dim=1) == y
        tau = kendall_tau(clean, class_map(x_adv))
    return x_adv, AAIRecord(tau, kept)
