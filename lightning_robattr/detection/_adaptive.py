"""An adaptive attack on the causal detector: fool the classifier and survive the detector's own masking (BPDA on the masks)."""

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .._validation import check_batch, check_positive_int
from ..attacks._attack_config import AttackConfig, check_step_options, default_step_size, resolve_config
from ..attacks._budget import Budget, parse_eps
from ..attacks._threat_models import per_example, threat_model
from ..models import evaluation_mode
from ._causal import CausalConfig, check_granularity, ranked_pixels, region_of, robustness_of


def logit_margin(logits: Tensor, label: Tensor) -> Tensor:
    """``(B,)``: ``z_label - max_{j != label} z_j`` (positive where ``label`` is predicted)."""
    own = logits.gather(1, label[:, None]).squeeze(1)
    return own - logits.scatter(1, label[:, None], float("-inf")).amax(dim=1)


@dataclass(frozen=True)
class AdaptiveConfig(AttackConfig):
    """The hyperparameters of :func:`adaptive_attack` (the budget ``eps`` is an argument of the call).

    Attributes:
        steps: signed-gradient steps (>= 1).
        step_size: L-inf step in pixel units; ``None``: ``2.5 * eps / steps``.
        levels: the masked fractions whose flip the attack prevents (each in (0, 1]); the detector
            flags an input whose prediction flips at a small level, so these are the levels below
            the benign images' typical ``rho``.
        mask_every: recompute the masks (one IG pass) every this many steps (>= 1).
        mask_weight: weight of the masked images' margins against the unmasked one.
        kappa: margin at which each term stops pulling (logit units, >= 0).
        random_start: start from a uniform point of the ball.
        detector: the detector's settings (:class:`CausalConfig`): its IG points, baseline and ``fraction_of``.
    """

    steps: int = 100
    step_size: float | None = None
    levels: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3)
    mask_every: int = 5
    mask_weight: float = 1.0
    kappa: float = 5.0
    random_start: bool = True
    detector: CausalConfig = field(default_factory=lambda: CausalConfig(ig_steps=20))

    def check(self) -> None:
        check_step_options(self.steps, self.step_size, "linf")
        if not self.levels:
            raise ValueError("levels must name at least one masked fraction, e.g. levels=(0.1, 0.2)")
        for level in self.levels:
            check_granularity(level)
        check_positive_int(self.mask_every, "mask_every")
        if self.mask_weight < 0 or self.kappa < 0:
            raise ValueError(f"mask_weight and kappa must be >= 0, got {self.mask_weight} and {self.kappa}")
        if not isinstance(self.detector, CausalConfig):
            raise TypeError(f"detector must be a CausalConfig, got {type(self.detector).__name__}")


class AdaptiveRecord(NamedTuple):
    """Attributes:
    success: ``(B,)`` the returned image is misclassified.
    rho: ``(B,)`` its causal robustness under the detector's settings (``1 + granularity``: no level flips it).
    """

    success: Tensor
    rho: Tensor


def adaptive_attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: Budget,
    config: AdaptiveConfig | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[Tensor, AdaptiveRecord]:
    """An L-inf attack that misclassifies ``x`` and keeps the adversarial label when the detector masks its top pixels.

    The causal detector ("Attribution-driven Causal Analysis for Detection of Adversarial Examples") flags
    an input whose prediction flips once a small share of its most IG-attributed pixels is masked. This
    attack maximises ``min(m(x'), kappa) + mask_weight * mean_l min(m(M_l(x')), kappa)``, with ``m`` the
    logit margin of the adversarial class ``c`` over all others (of any class but ``y`` before the first
    success) and ``M_l`` the detector's masking at level ``l`` of ``levels``: the top pixels of the IG map
    of ``c`` at ``x'`` set to the baseline. The masks (one IG pass) are recomputed every ``mask_every``
    steps and held fixed in between, so the gradient flows through the unmasked pixels only: BPDA
    (Athalye et al., "Obfuscated Gradients Give a False Sense of Security") on the non-differentiable
    ranking. At each recomputation the iterate is judged: the returned image is the misclassified
    iterate of largest ``rho`` (the detector's own measurement), else the last iterate.

    Args:
        model: classifier on pixel-space images (eval mode and fp32 inside, restored afterwards).
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: their labels ``(B,)``.
        eps: L-inf budget in pixel units.
        config: the hyperparameters (:class:`AdaptiveConfig`).
        generator: random source of the start.
        **options: fields of :class:`AdaptiveConfig` replaced for this call.

    Returns:
        ``(x_adv (B, C, H, W), AdaptiveRecord)``.

    Cost: ``steps * (1 + len(levels))`` forward and backward passes, and ``steps / mask_every`` IG passes
    with a masking sweep each.
    """
    (x, y) = check_batch(model, x, {"y": y})
    config = resolve_config(AdaptiveConfig, config, options)
    threat = threat_model("linf", parse_eps(eps))
    step_size = default_step_size(threat.eps, config.steps, config.step_size)
    detector = config.detector
    x = x.detach()
    with evaluation_mode(model):
        x_adv = threat.random_start(x, generator) if config.random_start else x.clone()
        best_x, best_rho = x_adv.clone(), torch.full((len(x),), -1.0, dtype=x.dtype, device=x.device)
        best_success = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        masks = target = None
        for step in range(config.steps + 1):
            if step % config.mask_every == 0 or step == config.steps:
                ranking = ranked_pixels(model, x_adv, detector)
                rho, _ = robustness_of(model, ranking, detector)
                success = ranking.label != y
                better = (success & (~best_success | (rho > best_rho))) | (~best_success & ~success)
                best_x = torch.where(per_example(better, x), x_adv, best_x)
                best_rho, best_success = torch.where(better, rho, best_rho), best_success | success
                masks = torch.stack([region_of(ranking, level) for level in config.levels], dim=1)  # (B, L, H, W)
                target = ranking.label
                baseline = ranking.baseline
            if step == config.steps:
                break
            x_adv = x_adv.detach().requires_grad_(True)
            masked = torch.where(masks[:, :, None], baseline.expand_as(x)[:, None], x_adv[:, None])  # (B, L, C, H, W)
            logits = model(torch.cat([x_adv, masked.flatten(0, 1)]))
            plain, under_mask = logits[: len(x)], logits[len(x):].view(len(x), len(config.levels), -1)
            # before the first success the adversarial class is any but y; afterwards it is the one reached
            fooled = target != y
            own = torch.where(fooled, logit_margin(plain, target), -logit_margin(plain, y))
            kept = torch.stack([logit_margin(under_mask[:, j], target) for j in range(len(config.levels))], dim=1)
            objective = own.clamp(max=config.kappa) + config.mask_weight * (kept.clamp(max=config.kappa) * fooled[:, None]).mean(dim=1)
            (grad,) = torch.autograd.grad(objective.sum(), x_adv)
            x_adv = threat.project(x_adv.detach() + step_size * grad.sign(), x)
    return best_x.detach(), AdaptiveRecord(best_success, best_rho)
