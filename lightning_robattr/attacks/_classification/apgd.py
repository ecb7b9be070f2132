"""Auto-PGD (Croce & Hein, Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks): PGD with momentum and a step size that halves at checkpoints."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..._validation import check_batch, check_choice, check_positive_int
from ...models import evaluation_mode
from .._attack_config import AttackConfig, resolve_config
from .._budget import Budget, parse_eps
from .._classification_losses import cross_entropy, dlr, succeeded
from .._records import SuccessRecord
from .._threat_models import THREAT_MODELS, ThreatModel, threat_model

APGD_LOSSES = ("ce", "dlr")


@dataclass(frozen=True)
class APGDConfig(AttackConfig):
    """The hyperparameters of :func:`apgd` (the budget ``eps`` and ``true_labels`` are arguments of the call).

    Attributes:
        steps: iterations per restart (>= 1; the paper uses 100).
        norm: ``"linf"`` or ``"l2"``.
        loss: ``"ce"`` (cross-entropy) or ``"dlr"`` (difference of logits ratio; needs >= 3 classes,
            targeted >= 4).
        targeted: pull towards ``y``; targeted DLR also needs the true classes (``true_labels``).
        restarts: runs from fresh random starts (>= 1); each restart attacks only the examples not yet fooled.
        momentum: weight ``alpha`` of the new step against the previous displacement, in [0, 1] (paper: 0.75).
        rho: fraction of increasing steps below which the step halves, in [0, 1] (paper: 0.75).
    """

    steps: int = 100
    norm: Literal["linf", "l2"] = "linf"
    loss: Literal["ce", "dlr"] = "ce"
    targeted: bool = False
    restarts: int = 1
    momentum: float = 0.75
    rho: float = 0.75

    def check(self) -> None:
        check_positive_int(self.steps, "steps")
        check_positive_int(self.restarts, "restarts")
        check_choice(self.norm, THREAT_MODELS, name="norm")
        check_choice(self.loss, APGD_LOSSES, name="loss")
        for value, name in ((self.momentum, "momentum"), (self.rho, "rho")):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number in [0, 1] (the paper: 0.75), got {value!r}")


def apgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: Budget,
    true_labels: Tensor | None = None,
    config: APGDConfig | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> tuple[Tensor, SuccessRecord]:
    """APGD-CE / APGD-DLR in the L-inf or L2 ball, untargeted or targeted; no step size to tune.

    Starts at a random point at distance ``eps`` with step ``2 * eps``; each iteration takes a
    projected gradient step and mixes it with the previous displacement (``momentum``). At the
    checkpoints ``w_j = ceil(p_j * steps)`` (``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j +
    max(p_j - p_{j-1} - 0.03, 0.06)``) an example's step halves and it restarts from its best point
    when fewer than ``rho`` of the last steps raised its loss, or when its step was not halved at
    the previous checkpoint and its best loss has not improved since. Like the authors' code (and
    torchattacks' port), the first window counts its first step as an increase when its loss
    is positive rather than when it exceeds the start's loss; this matters for DLR (negative
    until the attack succeeds).

    APGD keeps its own iteration rather than ``ascent.projected_gradient_ascent``: its state is
    more than (iterate, gradient) - the previous iterate (momentum), per-example step sizes
    halved from the loss history at checkpoints, and jumps back to the best iterate together with
    its stored gradient. The geometry comes from the threat model (``boundary_start``, ``step``,
    ``project``), so no branch on the norm is written here.

    Args:
        model: classifier on ``(B, C, H, W)`` images in [0, 1].
        x: clean images ``(B, C, H, W)`` in [0, 1].
        y: true labels ``(B,)``, or target labels when ``targeted``.
        eps: ball radius in pixel units (``"8/255"`` accepted).
        true_labels: the true classes ``(B,)`` for targeted DLR (default: the model's clean predictions).
        config: the hyperparameters (:class:`APGDConfig`, default ``APGDConfig()``).
        generator: random source for the starts.
        **options: fields of :class:`APGDConfig` replaced for this call (``steps=10, loss="dlr"``).

    Returns:
        ``(x_adv, record)``: a successful iterate where one was found, else the highest-loss
        iterate, and a ``SuccessRecord``.

    Example:
        >>> import torch
        >>> from lightning_robattr.models import Small
        >>> net, x, y = Small().eval(), torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> x_adv, record = apgd(net, x, y, eps=8 / 255, steps=10, loss="dlr")
        >>> bool((x_adv - x).abs().max() <= 8 / 255 + 1e-6), record.success.shape
        (True, torch.Size([4]))
    """
    x, y, true_labels = check_batch(model, x, {"y": y, "true_labels": true_labels}, required=("y",))
    config = resolve_config(APGDConfig, config, options)
    threat = threat_model(config.norm, parse_eps(eps))
    targeted, loss = config.targeted, config.loss
    x = x.detach()
    with evaluation_mode(model):
        loss_fn = _objective(loss, targeted)
        with torch.no_grad():
            logits = model(x)
        needed = 4 if targeted else 3
        if loss == "dlr" and logits.shape[1] < needed:
            raise ValueError(f"DLR (targeted={targeted}) needs at least {needed} classes, got {logits.shape[1]}")
        if true_labels is None:
            true_labels = logits.argmax(1) if targeted else y
        x_adv, done = x.clone(), succeeded(logits, y, targeted=targeted)
        best_loss = loss_fn(logits, y, true_labels)
        for _ in range(config.restarts):
            todo = (~done).nonzero().squeeze(1)
            if len(todo) == 0:
                break
            run_x, run_done, run_loss = _single_run(
                model, x[todo], y[todo], true_labels[todo], threat, steps=config.steps, loss_fn=loss_fn,
                targeted=targeted, momentum=config.momentum, rho=config.rho, generator=generator,
            )
            take = run_done | (run_loss > best_loss[todo])
            x_adv[todo[take]] = run_x[take]
            best_loss[todo[take]] = run_loss[take]
            done[todo] = run_done
    return x_adv, SuccessRecord(done)


def _objective(name: str, targeted: bool) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """APGD's loss ``name`` (``"ce"`` or ``"dlr"``, checked by ``APGDConfig``) as ``(logits, y, true_labels) -> (B,)``
    to maximise; ``y`` is the target if ``targeted``."""
    if name == "ce":
        return lambda logits, y, true_labels: cross_entropy(logits, y, targeted=targeted)
    if targeted:
        return lambda logits, y, true_labels: dlr(logits, true_labels, target=y)
    return lambda logits, y, true_labels: dlr(logits, y)


def checkpoints(steps: int) -> list[int]:
    """The iterations after which APGD reconsiders each step size.

    The paper's ``w_j = ceil(p_j * steps)``, in the integer form of the authors' code (first
    interval ``int(0.22 N)``, each next one ``int(0.03 N)`` shorter, but at least ``int(0.06 N)``,
    all at least 1), which equals the paper's for ``N = 100``: 22, 41, 57, 70, 80, 87, 93, 99.
    """
    interval, shrink, shortest = (max(int(f * steps), 1) for f in (0.22, 0.03, 0.06))
    marks = [interval]
    while True:
        interval = max(interval - shrink, shortest)
        if marks[-1] + interval > steps:
            return marks
        marks.append(marks[-1] + interval)


class StepSizeSchedule:
    """APGD's per-example step size: at each checkpoint of :func:`checkpoints` an example halves its step
    (and its iterate returns to its best) when its objective rose in at most ``rho`` of the steps since the
    last checkpoint, or when the last checkpoint did not halve it and its best value has not improved since.

    ``step_size (B,)`` starts at the given value; ``best (B,)`` is the best value at the start.
    """

    def __init__(self, steps: int, step_size: Tensor, best: Tensor, rho: float) -> None:
        self.step_size, self.rho, self.marks = step_size, rho, checkpoints(steps)
        self.rises = torch.zeros(len(best), device=best.device)
        self.halved_last = torch.ones(len(best), dtype=torch.bool, device=best.device)
        self.best_at_check, self.since_check = best.clone(), 0

    def record(self, rose: Tensor) -> None:
        """Count one step whose objective rose (``rose (B,)`` bool) or not."""
        self.rises += rose.float()
        self.since_check += 1

    def halve(self, step: int, best: Tensor) -> Tensor | None:
        """After iteration ``step`` (from 0), with the best values ``best (B,)`` so far: at a checkpoint the
        ``(B,)`` mask of the examples whose step was halved (``step_size`` updated), elsewhere ``None``."""
        if step + 1 not in self.marks:
            return None
        halve = (self.rises <= self.rho * self.since_check) | (~self.halved_last & (self.best_at_check >= best))
        self.step_size = torch.where(halve, self.step_size / 2, self.step_size)
        self.halved_last, self.best_at_check, self.since_check = halve, best.clone(), 0
        self.rises.zero_()
        return halve


def momentum_step(
    threat: ThreatModel, x_cur: Tensor, x_prev: Tensor, grad: Tensor, x: Tensor, *, step_size: Tensor, step: int, momentum: float
) -> Tensor:
    """APGD's next iterate: the projected gradient step ``z``, then ``P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))``,
    ``a = momentum`` (1 at the first step)."""
    z = threat.advance(x_cur, grad, x, step_size=step_size, step=step)
    alpha = momentum if step > 0 else 1.0
    return threat.project(x_cur + alpha * (z - x_cur) + (1 - alpha) * (x_cur - x_prev), x)


def _single_run(model, x, y, true_labels, threat, *, steps, loss_fn, targeted, momentum, rho, generator):
    """One APGD run; returns (images, success, loss): the last successful iterate where the
    attack succeeded, else the highest-loss iterate, with that iterate's loss."""
    shape = (-1,) + (1,) * (x.dim() - 1)

    def loss_and_grad(x_adv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x_adv = x_adv.detach().requires_grad_(True)
        logits = model(x_adv)
        values = loss_fn(logits, y, true_labels)
        (grad,) = torch.autograd.grad(values.sum(), x_adv)
        return values.detach(), grad, logits.detach()

    x_cur = threat.boundary_start(x, generator)
    cur_loss, grad, logits = loss_and_grad(x_cur)
    done = succeeded(logits, y, targeted=targeted)
    x_found = x_cur.clone()
    x_best, best_loss, grad_best = x_cur.clone(), cur_loss.clone(), grad.clone()
    schedule = StepSizeSchedule(steps, torch.full((len(x),), 2 * threat.eps, device=x.device, dtype=x.dtype), best_loss, rho)
    x_prev = x_cur.clone()
    for i in range(steps):
        x_next = momentum_step(threat, x_cur, x_prev, grad, x, step_size=schedule.step_size, step=i, momentum=momentum)
        x_prev = x_cur
        new_loss, grad, logits = loss_and_grad(x_next)
        # As in the authors' code, the first comparison is against 0, not the start's loss.
        schedule.record(new_loss > (cur_loss if i > 0 else torch.zeros_like(cur_loss)))
        x_cur, cur_loss = x_next, new_loss
        hit = succeeded(logits, y, targeted=targeted)
        x_found[hit] = x_cur[hit]
        done |= hit
        better = new_loss > best_loss
        x_best[better], best_loss[better], grad_best[better] = x_cur[better], new_loss[better], grad[better]
        halve = schedule.halve(i, best_loss)
        if halve is not None:
            x_cur[halve], grad[halve] = x_best[halve], grad_best[halve]
    images = torch.where(done.view(shape), x_found, x_best)
    return images, done, best_loss
