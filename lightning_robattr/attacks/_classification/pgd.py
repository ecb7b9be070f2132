"""Projected gradient descent (Madry et al., Towards Deep Learning Models Resistant to Adversarial Attacks)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_choice, check_positive_int
from ...models import evaluation_mode
from .._ascent import projected_gradient_ascent
from .._attack_config import AttackConfig, check_step_options, default_step_size, resolve_config
from .._budget import Budget, parse_eps
from .._classification_losses import LOSSES, classification_loss, succeeded
from .._records import SuccessRecord
from .._threat_models import ThreatModel, threat_model


@dataclass(frozen=True)
class PGDConfig(AttackConfig):
    """The hyperparameters of :func:`pgd` (the budget ``eps`` is an argument of the call).

    Attributes:
        steps: gradient steps per restart (>= 1).
        step_size: step length in the ball's norm, pixel units; ``None``: ``2.5 * eps / steps``.
        norm: ``"linf"`` or ``"l2"``.
        random_start: start from a random point of the ball (uniform for L-inf; for L2, uniform
            noise in [-0.5, 0.5] renormalised into the ball, as in Madry's robustness library).
        restarts: number of runs (>= 1; > 1 needs ``random_start``); each further run attacks only
            the examples not fooled yet, which keep the image of highest final loss.
        targeted: pull towards ``y`` instead of pushing away from it.
        loss: ``"ce"`` (cross-entropy) or ``"cw"`` (Carlini-Wagner logit margin).
        early_stop: freeze each example at its first successful iterate (costs one extra
            forward pass per step).
    """

    steps: int = 40
    step_size: float | None = None
    norm: Literal["linf", "l2"] = "linf"
    random_start: bool = True
    restarts: int = 1
    targeted: bool = False
    loss: Literal["ce", "cw"] = "ce"
    early_stop: bool = False

    def check(self) -> None:
        check_step_options(self.steps, self.step_size, self.norm)
        check_positive_int(self.restarts, "restarts")
        check_choice(self.loss, LOSSES, name="loss")
        if self.restarts > 1 and not self.random_start:
            raise ValueError("restarts > 1 repeat the same deterministic run; set random_start=True (or restarts=1)")


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: Budget,
    config: PGDConfig | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[Tensor, SuccessRecord]:
    """PGD in the L-inf or L2 ball of radius ``eps`` around ``x``, intersected with [0, 1].

    Each step moves ``step_size`` along the signed (L-inf) or normalised (L2) input gradient of
    the loss, then projects back (``attacks.threat_models``); the loop is
    ``ascent.projected_gradient_ascent``. The model runs in eval mode and fp32 and is restored.

    Args:
        model: classifier mapping ``(B, C, H, W)`` images in [0, 1] to logits ``(B, n_c)``.
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: true labels ``(B,)``, or target labels when ``targeted``.
        eps: ball radius in pixel units (MNIST 0.3, CIFAR ``"8/255"`` for L-inf; 0.5 for L2).
        config: the hyperparameters (:class:`PGDConfig`, default ``PGDConfig()``).
        generator: random source for the starts.
        **options: fields of :class:`PGDConfig` replaced for this call (``steps=100``).

    Returns:
        ``(x_adv, record)``: ``x_adv (B, C, H, W)`` detached and a ``SuccessRecord``.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = pgd(net, x, y, eps=0.3, steps=5, step_size=0.1)
        >>> bool((x_adv - x).abs().max() <= 0.3 + 1e-6), record.success.shape  # success: (B,) bool
        (True, torch.Size([4]))
    """
    x, y = check_batch(model, x, {"y": y}, required=("y",))
    config = resolve_config(PGDConfig, config, options)
    threat = threat_model(config.norm, parse_eps(eps))
    step_size, loss_fn = default_step_size(threat.eps, config.steps, config.step_size), classification_loss(config.loss)
    x = x.detach()
    with evaluation_mode(model):
        best_x = best_ok = best_loss = None
        todo = torch.arange(len(x), device=x.device)
        for _ in range(config.restarts):
            x_run = _single_run(model, x[todo], y[todo], threat, loss_fn, config, step_size, generator)
            with torch.no_grad():
                logits = model(x_run)
            ok, value = succeeded(logits, y[todo], targeted=config.targeted), loss_fn(logits, y[todo], targeted=config.targeted)
            if best_x is None:
                best_x, best_ok, best_loss = x_run, ok, value
            else:  # restarts run on the examples not fooled yet; keep a success, else the higher loss
                take = ok | (value > best_loss[todo])
                best_x[todo[take]], best_ok[todo[take]], best_loss[todo[take]] = x_run[take], ok[take], value[take]
            todo = (~best_ok).nonzero().squeeze(1)
            if len(todo) == 0:
                break
    return best_x, SuccessRecord(best_ok)


def _single_run(
    model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, loss_fn: Callable[..., Tensor], config: PGDConfig,
    step_size: float, generator: torch.Generator | None,
) -> Tensor:
    """One PGD run from a (random) start; ``config.early_stop`` freezes examples once they are fooled."""
    targeted = config.targeted
    return projected_gradient_ascent(
        lambda x_adv, _: loss_fn(model(x_adv), y, targeted=targeted), x, threat, steps=config.steps, step_size=step_size,
        random_start=config.random_start, generator=generator,
        stop_when=(lambda x_adv: succeeded(model(x_adv), y, targeted=targeted)) if config.early_stop else None,
    )
